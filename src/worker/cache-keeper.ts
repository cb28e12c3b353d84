// Tends the worker cache while the worker runs: the version folders its processes hold are stamped
// every KEEP_ALIVE_MS (so no worker sharing the cache evicts them), and what nobody used for
// `keepMs` is evicted at start and then every EVICT_EVERY_MS.
import { DEFAULT_CACHE_KEEP_MS, evictIdle, KEEP_ALIVE_MS, MIN_CACHE_KEEP_MS } from "./cache-evict.ts";
import type { WorkerPaths } from "./paths.ts";
import type { Versions } from "./versions.ts";

const EVICT_EVERY_MS = 3_600_000;

export interface CacheKeeperOptions {
  /** Keep what was used this recently (default DEFAULT_CACHE_KEEP_MS, at least MIN_CACHE_KEEP_MS). */
  keepMs?: number;
  log?: (line: string) => void;
}

export class CacheKeeper {
  readonly keepMs: number;
  private readonly timers: NodeJS.Timeout[] = [];
  private evicting: Promise<void> | undefined;

  constructor(
    private readonly paths: WorkerPaths,
    private readonly versions: Versions,
    /** Version folders this worker's live processes hold right now. */
    private readonly inUse: () => Iterable<string>,
    private readonly o: CacheKeeperOptions = {},
  ) {
    this.keepMs = Math.max(o.keepMs ?? DEFAULT_CACHE_KEEP_MS, MIN_CACHE_KEEP_MS);
  }

  start(): void {
    void this.evict();
    this.timers.push(
      setInterval(() => void this.versions.keepAlive(this.inUse()).catch(() => {}), KEEP_ALIVE_MS).unref(),
      setInterval(() => void this.evict(), EVICT_EVERY_MS).unref(),
    );
  }

  /** One eviction pass (a pass already under way is joined). */
  evict(): Promise<void> {
    return (this.evicting ??= (async () => {
      try {
        // Stamp what is in use first: a long-lived serving's version must not look idle to this pass.
        await this.versions.keepAlive(this.inUse());
        const e = await evictIdle(this.paths, { keepMs: this.keepMs });
        if (e.versions.length + e.deps.length > 0) {
          (this.o.log ?? console.error)(`[nbox worker] cache: removed ${e.versions.length} version(s) and ${e.deps.length} dependency set(s) unused for ${Math.round(this.keepMs / 3_600_000)} h`);
        }
      } catch (err) {
        (this.o.log ?? console.error)(`[nbox worker] cache eviction failed: ${(err as Error).message}`);
      } finally {
        this.evicting = undefined;
      }
    })());
  }

  async stop(): Promise<void> {
    for (const t of this.timers.splice(0)) clearInterval(t);
    await this.evicting;
  }
}
