// Everything a worker keeps lives in its cache folder (never in a control plane's data folder):
// downloaded bundles, extracted versions, installed dependencies, scratch folders, compile caches.
import { join } from "node:path";
import { NBOX_PACKAGE_DIR } from "../lib/package-dir.ts";

export interface WorkerPaths {
  cache: string;
  /** Bundles downloaded from the control plane (checked against their hash when extracted). */
  bundles: string;
  versions: string;
  deps: string;
  npmCache: string;
  /** Per-process scratch folders (HOME, TMPDIR, serving sockets). */
  scratch: string;
  /** Per-workspace compiled-TypeScript caches. */
  compile: string;
  nboxPackage: string;
}

export function workerPaths(cacheDir: string): WorkerPaths {
  return {
    cache: cacheDir,
    bundles: join(cacheDir, "bundles"),
    versions: join(cacheDir, "versions"),
    deps: join(cacheDir, "deps"),
    npmCache: join(cacheDir, "npm-cache"),
    scratch: join(cacheDir, "scratch"),
    compile: join(cacheDir, "compile"),
    nboxPackage: NBOX_PACKAGE_DIR,
  };
}

export const versionDir = (paths: WorkerPaths, hash: string) => join(paths.versions, hash);
