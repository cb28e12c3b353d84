// Verifying an untrusted bundle without writing it anywhere: one streaming read under the limits that
// recomputes the content hash by the SDK's algorithm. What passes is exactly the bundle its hash names.
import type { BundleSource } from "./chunk-reader.ts";
import { BundleHashMismatchError } from "./errors.ts";
import type { BundleLimits } from "./limits.ts";
import { MANIFEST_FILE, type BundleManifest } from "./manifest.ts";
import { readBundle } from "./read-bundle.ts";

export type VerifiedBundle = { manifest: BundleManifest; entries: number; unpackedBytes: number };

/** Reads `source` and checks that it hashes to `expectedHash`; throws BundleHashMismatchError, BundleLimitError, UnsafeBundleError or ManifestError. */
export async function verifyBundle(source: BundleSource, expectedHash: string, limits?: Partial<BundleLimits>): Promise<VerifiedBundle> {
  const read = await readBundle(source, { limits });
  checkHash(read.contentHash, read.manifest.contentHash, expectedHash);
  return { manifest: read.manifest, entries: read.entries, unpackedBytes: read.unpackedBytes };
}

/** The manifest of an already verified bundle, read up to nbox.json only (the SDK puts it first). */
export async function readBundleManifest(source: BundleSource, limits?: Partial<BundleLimits>): Promise<BundleManifest> {
  return (await readBundle(source, { limits, manifestOnly: true })).manifest;
}

/** Throws unless the content hashes to `expected` (default: its manifest's contentHash) and the manifest agrees. */
export function checkHash(computed: string, claimed: string, expected = claimed): void {
  if (computed !== expected) {
    throw new BundleHashMismatchError(`bundle content hashes to ${computed}, not to ${expected}`, expected, computed);
  }
  if (claimed !== computed) {
    throw new BundleHashMismatchError(`bundle ${MANIFEST_FILE} says contentHash ${claimed}, but the content hashes to ${computed}`, claimed, computed);
  }
}
