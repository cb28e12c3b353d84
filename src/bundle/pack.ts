// Builds the deployable bundle: the collected project files plus nbox.json, as a deterministic .tar.gz.
// Same files + same manifest fields => same contentHash and same bytes, so unchanged projects upload nothing.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { collectFiles, type CollectedFile } from "./collect.ts";
import { BundleTooLargeError, ManifestError } from "./errors.ts";
import { formatBytes } from "./format.ts";
import { ContentHasher, type ManifestFields } from "./content-hash.ts";
import { sha256Hex } from "./hash.ts";
import {
  MANIFEST_FILE,
  MANIFEST_FORMAT_VERSION,
  validateManifest,
  type BundleManifest,
  type ManifestInput,
} from "./manifest.ts";
import { writeTarGz, type TarEntry } from "./tar-writer.ts";

export const DEFAULT_MAX_BUNDLE_BYTES = 100 * 1024 * 1024;
export const LOCKFILE = "package-lock.json";

export type PackOptions = {
  /** Limit on the sum of file sizes (uncompressed). Default 100 MiB. */
  maxBytes?: number;
  /** Extra gitignore-style patterns relative to root. */
  ignore?: string[];
};

export type DryRunResult = {
  manifest: BundleManifest;
  files: CollectedFile[];
  totalBytes: number;
  ignoredCount: number;
  ignored: string[];
  maxBytes: number;
  /** True when packBundle would throw BundleTooLargeError. */
  overLimit: boolean;
};

export type PackResult = {
  tarball: Buffer;
  manifest: BundleManifest;
  files: CollectedFile[];
  totalBytes: number;
  ignoredCount: number;
};

/** Packs `root` into a gzip tarball with nbox.json at its root. Throws BundleTooLargeError over the limit. */
export async function packBundle(root: string, input: ManifestInput, opts: PackOptions = {}): Promise<PackResult> {
  const p = await prepare(root, input, opts, true);
  const entries: TarEntry[] = [
    // Manifest first, so a reader can get it without inflating the whole archive.
    { path: MANIFEST_FILE, type: "File", mode: 0o644, data: Buffer.from(JSON.stringify(p.manifest, null, 2) + "\n") },
  ];
  for (const f of p.files) {
    entries.push(
      f.kind === "symlink"
        ? { path: f.path, type: "SymbolicLink", mode: f.mode, linkpath: f.target! }
        : { path: f.path, type: "File", mode: f.mode, data: p.contents.get(f.path)! },
    );
  }
  return {
    tarball: writeTarGz(entries),
    manifest: p.manifest,
    files: p.files,
    totalBytes: p.totalBytes,
    ignoredCount: p.ignoredCount,
  };
}

/** What would be bundled (manifest with hashes, files, sizes) without building the tarball. Never throws for size. */
export async function dryRunManifest(root: string, input: ManifestInput, opts: PackOptions = {}): Promise<DryRunResult> {
  const p = await prepare(root, input, opts, false);
  return {
    manifest: p.manifest,
    files: p.files,
    totalBytes: p.totalBytes,
    ignoredCount: p.ignoredCount,
    ignored: p.ignored,
    maxBytes: p.maxBytes,
    overLimit: p.totalBytes > p.maxBytes,
  };
}

async function prepare(root: string, input: ManifestInput, opts: PackOptions, enforceLimit: boolean) {
  const absRoot = path.resolve(root);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
  const { files, ignoredCount, ignored } = await collectFiles(absRoot, { ignore: opts.ignore });

  if (files.some((f) => f.path === MANIFEST_FILE)) {
    throw new ManifestError(
      `${path.join(absRoot, MANIFEST_FILE)} exists, but ${MANIFEST_FILE} at the project root is reserved for the ` +
        `bundle manifest; rename it or add it to .nboxignore`,
    );
  }
  if (typeof input.entry !== "string") throw new ManifestError('invalid bundle manifest: field "entry" must be a string');
  const entry = input.entry.replace(/\\/g, "/").replace(/^(\.\/)+/, "");
  if (!files.some((f) => f.path === entry)) {
    throw new ManifestError(
      `entry module "${entry}" is not in the bundle (missing under ${absRoot}, or excluded by .gitignore/.nboxignore)`,
    );
  }

  const totalBytes = files.reduce((n, f) => n + f.size, 0);
  if (enforceLimit && totalBytes > maxBytes) throw tooLarge(absRoot, files, totalBytes, maxBytes);

  // Read every file once: the bytes feed both the hash and the tarball.
  const contents = new Map<string, Buffer>();
  const h = new ContentHasher();
  for (const f of files) {
    const abs = path.join(absRoot, ...f.path.split("/"));
    // For links the "content" is the stored target.
    const body = f.kind === "symlink" ? Buffer.from(f.target!) : await readFile(abs);
    if (f.kind === "file") {
      contents.set(f.path, body);
      f.size = body.length; // the file may have changed since stat; the tarball carries what we read
    }
    h.add(f.kind, f.path, f.mode, body);
  }

  const lock = contents.get(LOCKFILE);
  // JSON round-trip: the hash must cover exactly what nbox.json will contain (drops undefined, etc.).
  const fields = JSON.parse(
    JSON.stringify({
      formatVersion: MANIFEST_FORMAT_VERSION,
      entry,
      export: input.export,
      kind: input.kind,
      init: input.init,
      type: input.type,
      name: input.name,
      resource: input.resource ?? {},
      schedule: input.schedule ?? null,
      lockfileHash: lock ? sha256Hex(lock) : null,
      state: input.state,
      signature: input.signature,
      options: input.options,
    }),
  ) as ManifestFields;
  // validateManifest also fixes the documented key order for nbox.json.
  const manifest = validateManifest({ ...fields, contentHash: h.finish(fields) });
  return {
    manifest,
    files,
    contents,
    totalBytes: files.reduce((n, f) => n + f.size, 0),
    ignoredCount,
    ignored,
    maxBytes,
  };
}

function tooLarge(root: string, files: CollectedFile[], totalBytes: number, maxBytes: number): BundleTooLargeError {
  const largest = [...files]
    .sort((a, b) => b.size - a.size || (a.path < b.path ? -1 : 1))
    .slice(0, 5)
    .map((f) => ({ path: f.path, size: f.size }));
  const width = Math.max(...largest.map((f) => f.path.length));
  const lines = [
    `bundle is ${formatBytes(totalBytes)}, over the ${formatBytes(maxBytes)} limit. Largest files:`,
    ...largest.map((f) => `  ${f.path.padEnd(width)}  ${formatBytes(f.size)}`),
    `Exclude what the code does not need at runtime by adding patterns to ${path.join(root, ".nboxignore")} ` +
      `(gitignore syntax, e.g. "data/" or "*.bin"), or raise the limit with maxBytes.`,
  ];
  return new BundleTooLargeError(lines.join("\n"), totalBytes, maxBytes, largest);
}
