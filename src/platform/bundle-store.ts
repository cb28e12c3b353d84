// Uploaded bundles on the platform: content-addressed, verified before they are stored, immutable after.
// An upload streams into a temp file under bundles/.incoming (a name no bundle lookup ever matches), is
// re-hashed there by the SDK's algorithm under the reading limits, renamed to <hash>.tgz only if it
// matches, and recorded in the store only after that. A bundle counts as stored when both the file and
// the record exist, so whatever a crash leaves half done is never used: a temp is swept later, a file
// without a record is replaced by the next verified upload.
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import {
  BundleHashMismatchError,
  BundleLimitError,
  ManifestError,
  UnsafeBundleError,
  readBundleManifest,
  resolveLimits,
  verifyBundleInThread,
  type BundleLimitName,
  type BundleLimits,
  type BundleManifest,
} from "../bundle/index.ts";
import { formatBytes } from "../bundle/format.ts";
import { NboxError } from "../errors.ts";
import { syncFolder, syncToDisk } from "../lib/write-file-atomic.ts";
import type { PlatformConfig } from "./config.ts";
import { bundleFile, type PlatformContext, type PlatformPaths } from "./context.ts";

/** Temps older than this belong to an upload that died (a live one is also tracked in `activeTemps`). */
const STALE_TEMP_MS = 60 * 60 * 1000;
const SWEEP_EVERY_MS = 10 * 60 * 1000;

export type StoreResult = { stored: boolean; existed: boolean; bytes: number };

export function bundleLimits(config: PlatformConfig): BundleLimits {
  return resolveLimits({ maxUnpackedBytes: config.maxBundleUnpackedBytes, maxEntries: config.maxBundleEntries, maxFileBytes: config.maxBundleFileBytes });
}

const incomingDir = (paths: PlatformPaths) => join(paths.bundles, ".incoming");

/**
 * Size of the stored bundle, or null unless it was verified and recorded (file and record both
 * present, of the same size: a file a power cut left shorter is replaced by the next upload).
 */
export async function storedBundleSize(ctx: PlatformContext, hash: string): Promise<number | null> {
  const st = await stat(bundleFile(ctx.paths, hash)).catch(() => null);
  if (!st?.isFile()) return null;
  return (await ctx.store.bundleSize(hash)) === st.size ? st.size : null;
}

// Uploads of one hash run one at a time in this process: the second finds the first one's result.
const inFlight = new Map<string, Promise<StoreResult>>();
const activeTemps = new Set<string>();
let lastSweep = 0;

/** Verifies and stores an upload of `hash`; a hash that is already stored is left alone (nothing read, nothing written). */
export async function storeBundle(ctx: PlatformContext, hash: string, body: ReadableStream<Uint8Array> | null): Promise<StoreResult> {
  const file = bundleFile(ctx.paths, hash);
  for (let pending = inFlight.get(file); pending; pending = inFlight.get(file)) await pending.catch(() => {});
  const size = await storedBundleSize(ctx, hash);
  if (size !== null) {
    await body?.cancel().catch(() => {});
    return { stored: false, existed: true, bytes: size };
  }
  const p = receive(ctx, hash, file, body);
  inFlight.set(file, p);
  try {
    return await p;
  } finally {
    if (inFlight.get(file) === p) inFlight.delete(file);
  }
}

async function receive(ctx: PlatformContext, hash: string, file: string, body: ReadableStream<Uint8Array> | null): Promise<StoreResult> {
  if (!body) throw new NboxError("BAD_REQUEST", "empty bundle body", "PUT the .tgz the SDK packed as the request body");
  const dir = incomingDir(ctx.paths);
  await mkdir(dir, { recursive: true });
  if (Date.now() - lastSweep > SWEEP_EVERY_MS) void sweepStaleUploads(ctx.paths);
  const tmp = join(dir, `${hash}.${process.pid}.${randomBytes(6).toString("hex")}.part`);
  activeTemps.add(tmp);
  try {
    const bytes = await writeBody(body, tmp, ctx.config.maxBundleBytes);
    if (bytes === 0) throw new NboxError("BAD_REQUEST", "empty bundle body", "PUT the .tgz the SDK packed as the request body");
    try {
      await verifyBundleInThread(tmp, hash, bundleLimits(ctx.config));
    } catch (err) {
      throw bundleError(err, hash);
    }
    // On the disk before its name and its record: after a power cut a recorded bundle is whole.
    await syncToDisk(tmp);
    await rename(tmp, file); // atomic: readers see no file or the whole verified one
    syncFolder(dirname(file));
    await ctx.store.recordBundle(hash, bytes);
    return { stored: true, existed: false, bytes };
  } finally {
    activeTemps.delete(tmp);
    await rm(tmp, { force: true });
  }
}

/** Streams the body to `tmp` (never overwriting), refusing it as soon as it passes `max` bytes. */
async function writeBody(body: ReadableStream<Uint8Array>, tmp: string, max: number): Promise<number> {
  let bytes = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > max) done(tooLarge(max));
      else done(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(body as WebReadableStream<Uint8Array>), count, createWriteStream(tmp, { flags: "wx", mode: 0o600 }));
  return bytes;
}

export function tooLarge(max: number): NboxError {
  return new NboxError("PAYLOAD_TOO_LARGE", `bundle is larger than the platform limit of ${formatBytes(max)} (compressed)`, "Exclude large files with .nboxignore, or raise the limit with `nbx up --max-bundle <bytes>`");
}

/** The manifest inside a stored (verified) bundle; 400 if the bundle was never uploaded and verified. */
export async function storedManifest(ctx: PlatformContext, hash: string): Promise<{ manifest: BundleManifest; bytes: number }> {
  const bytes = await storedBundleSize(ctx, hash);
  if (bytes === null) throw new NboxError("BAD_REQUEST", `bundle ${hash} has not been uploaded`, "PUT /api/v1/bundles/<hash> first");
  try {
    return { manifest: await readBundleManifest(bundleFile(ctx.paths, hash), bundleLimits(ctx.config)), bytes };
  } catch (err) {
    throw bundleError(err, hash);
  }
}

/** Removes temps of uploads that died (crash, kill -9) and the temp names older versions used. */
export async function sweepStaleUploads(paths: PlatformPaths, now = Date.now()): Promise<void> {
  lastSweep = now;
  const candidates = [
    ...(await readdir(incomingDir(paths)).catch(() => [])).map((n) => join(incomingDir(paths), n)),
    ...(await readdir(paths.bundles).catch(() => [])).filter((n) => n.endsWith(".tmp")).map((n) => join(paths.bundles, n)),
  ];
  for (const f of candidates) {
    if (activeTemps.has(f)) continue;
    const st = await stat(f).catch(() => null);
    if (st && now - st.mtimeMs > STALE_TEMP_MS) await rm(f, { recursive: true, force: true }).catch(() => {});
  }
}

/** How to raise each reading limit. */
const RAISE: Record<BundleLimitName, string> = {
  maxUnpackedBytes: "raise it with `nbx up --max-bundle-unpacked <bytes>` (maxBundleUnpackedBytes)",
  maxFileBytes: "raise it with `nbx up --max-bundle-file <bytes>` (maxBundleFileBytes)",
  maxEntries: "raise it with `nbx up --max-bundle-entries <n>` (maxBundleEntries), or leave generated files out with .nboxignore",
  maxPathLength: "the limit is fixed: shorten the path or leave the file out with .nboxignore",
  maxDepth: "the limit is fixed: flatten the folders or leave them out with .nboxignore",
};

/** Maps a bundle reading failure to the API error: 413 for the size limits, 400 for everything else. */
export function bundleError(err: unknown, hash: string): unknown {
  if (err instanceof BundleLimitError) {
    const size = err.limit === "maxUnpackedBytes" || err.limit === "maxFileBytes";
    return new NboxError(size ? "PAYLOAD_TOO_LARGE" : "BAD_REQUEST", `bundle ${hash} refused: ${err.message} (limit ${err.limit})`, `If the bundle is meant to be this big, ${RAISE[err.limit]}`);
  }
  if (err instanceof BundleHashMismatchError) {
    return new NboxError("BAD_REQUEST", `bundle refused: ${err.message}`, "A bundle is stored under the hash of its content; upload the .tgz the SDK packed to /bundles/<manifest.contentHash>");
  }
  if (err instanceof UnsafeBundleError || err instanceof ManifestError) return new NboxError("BAD_REQUEST", `bundle ${hash} refused: ${err.message}`);
  return err;
}
