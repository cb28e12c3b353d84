// Eviction: without it the worker cache only grows (every deploy extracts a version, every new
// lockfile installs its dependencies). What no worker used for `keepMs` is removed.
//
// "Used" is a stamp: the mtime of a version's `.ready` file and of a dependency set's folder. A
// worker touches a stamp when it hands the version (or dependency set) out, and every KEEP_ALIVE_MS
// for as long as one of its processes holds it (a warm job process, a serving), so a version in use
// never looks idle, whichever worker sharing the cache looks.
// The cache is not locked (workers share it), so a removal is a rename out of the way, then a second
// look at the stamp: touched in between, the folder is renamed back.
import { randomBytes } from "node:crypto";
import type { Dirent } from "node:fs";
import { readdir, readlink, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, sep } from "node:path";
import { writerTag } from "../lib/writer-tag.ts";
import type { WorkerPaths } from "./paths.ts";

const HOUR_MS = 3_600_000;
export const DEFAULT_CACHE_KEEP_MS = 7 * 24 * HOUR_MS;
/** Far above KEEP_ALIVE_MS: a stamp refreshed on time never comes near it. */
export const MIN_CACHE_KEEP_MS = HOUR_MS;
/** How often a worker refreshes the stamps of what its processes hold. */
export const KEEP_ALIVE_MS = 10 * 60_000;
/** A version folder is complete once this file is in it; its mtime is the version's stamp. */
export const READY_FILE = ".ready";

const entries = (dir: string): Promise<Dirent[]> => readdir(dir, { withFileTypes: true }).catch(() => []);

/**
 * Where version folders live: `versions/` itself (the layout before installs had folders kept
 * `versions/<hash>` there) and each install's folder `versions/<install>`.
 */
export async function versionParents(paths: WorkerPaths): Promise<string[]> {
  const root = dirname(paths.versions);
  const out = [root];
  for (const e of await entries(root)) {
    if (!e.isDirectory() || e.name.startsWith(".")) continue;
    const dir = join(root, e.name);
    if (!(await entries(dir)).some((x) => x.name === READY_FILE)) out.push(dir);
  }
  return out;
}

/**
 * Every extracted version folder in the cache, of every nbox install sharing it. With `staging`,
 * also the folders being prepared or removed right now (their names start with a dot).
 */
export async function versionFolders(paths: WorkerPaths, opts: { staging?: boolean } = {}): Promise<string[]> {
  const parents = await versionParents(paths);
  const out: string[] = [];
  for (const parent of parents) {
    for (const e of await entries(parent)) {
      const dir = join(parent, e.name);
      if (e.isDirectory() && !parents.includes(dir) && (opts.staging || !e.name.startsWith("."))) out.push(dir);
    }
  }
  return out;
}

/**
 * Move `dir` out of the way and delete it, unless its stamp (`stamp` inside it, or the folder itself)
 * changed from `seenMtimeMs` meanwhile: then it is put back. true when it was removed; throws when
 * the delete fails.
 */
export async function removeUnlessTouched(dir: string, stamp: string | null, seenMtimeMs: number): Promise<boolean> {
  const doomed = join(dirname(dir), `.${basename(dir)}.evict-${writerTag()}-${randomBytes(4).toString("hex")}`);
  try {
    await rename(dir, doomed);
  } catch {
    return false; // removed or replaced by someone else meanwhile
  }
  const now = await stat(stamp ? join(doomed, stamp) : doomed).catch(() => undefined);
  if (now && now.mtimeMs !== seenMtimeMs) {
    try {
      await rename(doomed, dir);
      return false;
    } catch {
      // Prepared again under its name meanwhile: this copy is a duplicate.
    }
  }
  await rm(doomed, { recursive: true, force: true });
  return true;
}

/** What one eviction pass removed. */
export interface Evicted {
  versions: string[];
  deps: string[];
}

/**
 * Remove versions and dependency sets nobody stamped for `keepMs`. What it cannot read is skipped,
 * but a folder that cannot be deleted once moved aside throws: the cache keeper logs it, and a later
 * worker start sweeps what was left aside (cache-sweep.ts).
 */
export async function evictIdle(paths: WorkerPaths, opts: { keepMs: number; now?: number }): Promise<Evicted> {
  const cutoff = (opts.now ?? Date.now()) - opts.keepMs;
  const evicted: Evicted = { versions: [], deps: [] };
  for (const dir of await versionFolders(paths)) {
    const st = await stat(join(dir, READY_FILE)).catch(() => undefined);
    if (st && st.mtimeMs <= cutoff && (await removeUnlessTouched(dir, READY_FILE, st.mtimeMs))) evicted.versions.push(dir);
  }
  // A dependency set stays while any version (kept, or being prepared) links into it.
  const linked = await linkedSegments(await versionFolders(paths, { staging: true }));
  for (const e of await entries(paths.deps)) {
    if (!e.isDirectory() || e.name.startsWith(".") || e.name.includes(".tmp-") || linked.has(e.name)) continue;
    const dir = join(paths.deps, e.name);
    const st = await stat(dir).catch(() => undefined);
    if (st && st.mtimeMs <= cutoff && (await removeUnlessTouched(dir, null, st.mtimeMs))) evicted.deps.push(dir);
  }
  return evicted;
}

/**
 * Every path segment the `node_modules` links of `versions` point through. A dependency set is
 * named by its key, so it is linked when its key is among them, whatever path the cache was reached by.
 */
async function linkedSegments(versions: string[]): Promise<Set<string>> {
  const segments = new Set<string>();
  for (const v of versions) {
    const nm = join(v, "node_modules");
    for (const e of await entries(nm)) {
      if (!e.isSymbolicLink()) continue;
      const target = await readlink(join(nm, e.name)).catch(() => "");
      for (const s of target.split(sep)) segments.add(s);
    }
  }
  return segments;
}
