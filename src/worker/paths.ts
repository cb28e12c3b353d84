// Everything a worker keeps lives in its cache folder (never in a control plane's data folder):
// downloaded bundles, extracted versions, installed dependencies, scratch folders, compile caches.
import { createHash } from "node:crypto";
import { realpathSync } from "node:fs";
import { join } from "node:path";
import { NBOX_PACKAGE_DIR } from "../lib/package-dir.ts";

export interface WorkerPaths {
  cache: string;
  /** Bundles downloaded from the control plane (checked against their hash when extracted). */
  bundles: string;
  /** Extracted versions, per nbox install: each links its `node_modules/nbox` to the install that prepared it. */
  versions: string;
  deps: string;
  npmCache: string;
  /** Per-process scratch folders (HOME, TMPDIR, serving sockets). */
  scratch: string;
  /** Per-workspace compiled-TypeScript caches. */
  compile: string;
  nboxPackage: string;
}

/**
 * Names one nbox install. Two installs sharing a cache (two projects, each with its own nbox, on one
 * machine) must not share extracted versions: a version's `node_modules/nbox` link points at the
 * install that prepared it, which the other install's sandbox does not show.
 */
export function installId(nboxPackageDir: string): string {
  let real = nboxPackageDir;
  try {
    real = realpathSync(nboxPackageDir);
  } catch {
    // Not there (yet): its path names it as well.
  }
  return createHash("sha256").update(real).digest("hex").slice(0, 12);
}

export function workerPaths(cacheDir: string, nboxPackageDir: string = NBOX_PACKAGE_DIR): WorkerPaths {
  return {
    cache: cacheDir,
    bundles: join(cacheDir, "bundles"),
    versions: join(cacheDir, "versions", installId(nboxPackageDir)),
    deps: join(cacheDir, "deps"),
    npmCache: join(cacheDir, "npm-cache"),
    scratch: join(cacheDir, "scratch"),
    compile: join(cacheDir, "compile"),
    nboxPackage: nboxPackageDir,
  };
}

export const versionDir = (paths: WorkerPaths, hash: string) => join(paths.versions, hash);
