import { join } from "node:path";
import type { Store } from "./store/index.ts";
import type { DeploymentRow } from "./store/schema.ts";
import type { PlatformConfig } from "./config.ts";
import type { RunEvents } from "./run-events.ts";
import type { Lookups } from "./lookups.ts";
import type { RunQueue } from "./queue/run-queue.ts";
import type { ClaimTaker } from "./workers/hub.ts";

/** Everything a platform component needs, passed explicitly (no globals). */
export interface PlatformContext {
  config: PlatformConfig;
  store: Store;
  events: RunEvents;
  lookups: Lookups;
  /** Writes spans this node still buffers from worker reports; readers call it before reading spans. */
  flushRunOutput?: () => Promise<void>;
  paths: PlatformPaths;
  /** Base URL clients use (set once the server listens). */
  publicUrl: string;
  scheduler?: {
    upsert(d: DeploymentRow, schedule: Record<string, unknown>): Promise<void>;
    remove(d: DeploymentRow): Promise<void>;
    setEnabled(d: DeploymentRow, enabled: boolean): Promise<boolean>;
    fired(scheduleId: string, deploymentId: string, firedAt: number): Promise<string | null>;
  };
  /** Where queued runs wait for a worker (the store's rows, or BullMQ on Redis). */
  queue: RunQueue;
  /** Embedded queue: a worker waiting on the empty queue that takes `n` new runs of a deployment directly. */
  handoff?: (deploymentId: string, n: number) => ClaimTaker | undefined;
}

/** What the control plane keeps on disk besides its store: uploaded, checked bundles. */
export interface PlatformPaths {
  bundles: string;
}

export function platformPaths(dataDir: string): PlatformPaths {
  return { bundles: join(dataDir, "bundles") };
}

export const bundleFile = (paths: PlatformPaths, hash: string) => join(paths.bundles, `${hash}.tgz`);
