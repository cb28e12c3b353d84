// The worker cache: extracted versions, installed dependencies, scratch folders. User code runs
// from here, so it must not be inside the platform's data folder, nor below a folder holding it
// (the SDK's discovery walks up from the working folder looking for `.nbox`).
import { homedir } from "node:os";
import { basename, dirname, resolve } from "node:path";
import { NboxError } from "../../errors.ts";
import { isInside } from "../../lib/is-inside.ts";

/** Throws when user code running from `cacheDir` could find `dataDir`. */
export function checkCacheDir(cacheDir: string, dataDir: string): void {
  const hint = "Pass --cache <dir> (or NBOX_CACHE_DIR) naming a folder outside the data folder and its parent";
  if (isInside(cacheDir, dataDir) || isInside(dataDir, cacheDir)) {
    throw new NboxError("BAD_REQUEST", `the worker cache ${cacheDir} and the data folder ${dataDir} overlap: deployed code would run next to the admin token`, hint);
  }
  // Walking up from the cache would reach `<parent>/.nbox`. The home folder is the exception:
  // `~/.nbox` is where discovery looks anyway, so a cache under ~ reveals nothing more.
  const parent = dirname(dataDir);
  if (basename(dataDir) === ".nbox" && parent !== resolve(homedir()) && isInside(cacheDir, parent)) {
    throw new NboxError("BAD_REQUEST", `the worker cache ${cacheDir} is below ${parent}, which holds the data folder ${dataDir}: deployed code could discover the platform's files`, hint);
  }
}
