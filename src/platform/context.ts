import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import type { Store } from "./store/index.ts";
import type { DeploymentRow } from "./store/schema.ts";
import type { PlatformConfig } from "./config.ts";
import type { RunEvents } from "./run-events.ts";
import type { Lookups } from "./lookups.ts";
import type { RunQueue } from "./queue/run-queue.ts";

/** Everything a platform component needs, passed explicitly (no globals). */
export interface PlatformContext {
  config: PlatformConfig;
  store: Store;
  events: RunEvents;
  lookups: Lookups;
  /** Writes run output this node still buffers (embedded executor); readers call it before reading spans. */
  flushRunOutput?: () => Promise<void>;
  paths: PlatformPaths;
  /** Base URL clients use (set once the server listens). */
  publicUrl: string;
  scheduler?: { upsert(d: DeploymentRow, schedule: Record<string, unknown>): Promise<void> };
  /** Where queued runs wait for a worker (the store's rows, or BullMQ on Redis). */
  queue: RunQueue;
}

/** Uploaded bundles stay in the data folder; everything user code runs from is in the worker cache. */
export interface PlatformPaths {
  bundles: string;
  versions: string;
  deps: string;
  npmCache: string;
  /** Per-process scratch folders (HOME, TMPDIR, serving sockets). */
  scratch: string;
  /** Per-workspace compiled-TypeScript caches. */
  compile: string;
  /** This nbox package, linked into every bundle as `node_modules/nbox`. */
  nboxPackage: string;
}

export const NBOX_PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export function platformPaths(dataDir: string, cacheDir: string): PlatformPaths {
  return {
    bundles: join(dataDir, "bundles"),
    versions: join(cacheDir, "versions"),
    deps: join(cacheDir, "deps"),
    npmCache: join(cacheDir, "npm-cache"),
    scratch: join(cacheDir, "scratch"),
    compile: join(cacheDir, "compile"),
    nboxPackage: NBOX_PACKAGE_DIR,
  };
}

export const bundleFile = (paths: PlatformPaths, hash: string) => join(paths.bundles, `${hash}.tgz`);
export const versionDir = (paths: PlatformPaths, hash: string) => join(paths.versions, hash);
