import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { DEFAULT_BUNDLE_LIMITS } from "../bundle/limits.ts";
import { defaultCacheDir } from "../lib/cache-root.ts";
import { STORE_DEFAULTS } from "./store/defaults.ts";

/** Spans one run keeps by default: a trace far past this is no longer readable, only a cost. */
export const DEFAULT_MAX_RUN_SPANS = 20_000;

/** Every platform setting with its default, in one place (`??`, never `||`: 0 is a valid value). */
export interface PlatformConfig {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl?: string;
  /** Runs go through BullMQ on this Redis (workers consume it directly). */
  redisUrl?: string;
  /** Key prefix of the BullMQ queues (several platforms can share one Redis under different prefixes). */
  queuePrefix: string;
  /** Request bodies above this get 413 (the bundle upload has its own limit). */
  maxBodyBytes: number;
  maxBundleBytes: number;
  /** What an uploaded bundle may expand to (checked while it is read; 413/400 naming the limit). */
  maxBundleUnpackedBytes: number;
  maxBundleEntries: number;
  maxBundleFileBytes: number;
  /** Bytes of log lines one run keeps; what it prints past that is dropped (one line says so). */
  maxRunLogBytes: number;
  /** Spans one run keeps (per attempt); spans past that are dropped (one log line says so). */
  maxRunSpans: number;
  /** Global worker slots (child processes running calls at once). */
  slots: number;
  /** Retry policy for deployments that set none. */
  defaultMaxRetries: number;
  defaultRetryBackoffMs: number;
  /** Longest a long-poll request is held open. */
  maxWaitMs: number;
  /** Run the executor in this process (false for an API-only node on the scale path). */
  executor: boolean;
  /**
   * How long a claimed run stays held without a heartbeat (renewed every third of it). A node that
   * dies loses its runs to the others after at most this long; keep it well above clock skew between nodes.
   */
  leaseMs: number;
  /** Worker cache (extracted versions, installed dependencies, scratch folders): outside the data folder. */
  cacheDir: string;
  /** The local worker keeps cached versions and dependencies used this recently (default: the worker's). */
  cacheKeepMs?: number;
  /** Delete runs (with logs and spans), events and serving spans that ended this long ago; undefined keeps them. */
  retainMs?: number;
  /** Run user processes under bubblewrap where the OS allows it (false: `--no-sandbox`). */
  sandbox: boolean;
  /** Extra environment variable names handed to user processes (the rest of the platform's environment is not). */
  passEnv: string[];
}

export function resolveConfig(input: Partial<PlatformConfig> = {}): PlatformConfig {
  return {
    port: input.port ?? 7070,
    host: input.host ?? "127.0.0.1",
    dataDir: resolve(input.dataDir ?? ".nbox"),
    databaseUrl: input.databaseUrl,
    redisUrl: input.redisUrl,
    queuePrefix: input.queuePrefix ?? "nbx",
    maxBodyBytes: input.maxBodyBytes ?? 10 * 1024 * 1024,
    maxBundleBytes: input.maxBundleBytes ?? 100 * 1024 * 1024,
    maxBundleUnpackedBytes: input.maxBundleUnpackedBytes ?? DEFAULT_BUNDLE_LIMITS.maxUnpackedBytes,
    maxBundleEntries: input.maxBundleEntries ?? DEFAULT_BUNDLE_LIMITS.maxEntries,
    maxBundleFileBytes: input.maxBundleFileBytes ?? DEFAULT_BUNDLE_LIMITS.maxFileBytes,
    maxRunLogBytes: input.maxRunLogBytes ?? STORE_DEFAULTS.maxRunLogBytes,
    maxRunSpans: input.maxRunSpans ?? DEFAULT_MAX_RUN_SPANS,
    slots: input.slots ?? availableParallelism(),
    defaultMaxRetries: input.defaultMaxRetries ?? 0,
    defaultRetryBackoffMs: input.defaultRetryBackoffMs ?? 1000,
    maxWaitMs: input.maxWaitMs ?? 30_000,
    executor: input.executor ?? true,
    leaseMs: input.leaseMs ?? STORE_DEFAULTS.leaseMs,
    cacheDir: resolve(input.cacheDir ?? defaultCacheDir()),
    ...(input.cacheKeepMs !== undefined ? { cacheKeepMs: input.cacheKeepMs } : {}),
    ...(input.retainMs !== undefined ? { retainMs: input.retainMs } : {}),
    sandbox: input.sandbox ?? true,
    passEnv: input.passEnv ?? [],
  };
}
