// Keeps the store and the data folder from growing for good. With a retention window (`nbx up
// --retain 30d`), runs that ended before it — with their logs and spans — events, and the spans of
// serving requests are deleted, a batch at a time with pauses between (the embedded store has one
// connection to share), at start and every 10 minutes. Runs still queued or running are never
// touched, however old. Without a window the store keeps everything.
// Argument lists uploaded by reference (`<data>/blobs`) are staging only: a trigger copies them into
// its runs, and the SDK uploads again for every trigger. So they go an hour after their upload
// whatever the window, and so do upload files a crash left half-written.
// Runtime tokens (`runtime:<worker>`, minted by the platform for user processes) that were revoked
// go a day after their revocation, whatever the window: a worker that left, or a job revoking its
// own token, leaves no trail of dead rows. Tokens people made (and live ones) are never deleted.
import { setTimeout as sleep } from "node:timers/promises";
import { sweepBlobs } from "./blob-staging.ts";
import type { Store } from "./store/index.ts";

const EVERY_MS = 10 * 60_000;
const FIRST_AFTER_MS = 5_000;
const BATCH = 1_000;
const PAUSE_MS = 20;
export const BLOB_KEEP_MS = 60 * 60_000;
export const REVOKED_RUNTIME_TOKEN_KEEP_MS = 24 * 60 * 60_000;
/** A retention window shorter than this is refused (it would delete runs users are still looking at). */
export const MIN_RETAIN_MS = 60 * 60_000;

export interface RetentionOptions {
  /** Delete what ended this long ago; undefined keeps everything (blobs are swept regardless). */
  retainMs?: number;
  blobsDir: string;
  blobKeepMs?: number;
  /** Revoked runtime tokens go this long after their revocation. */
  runtimeTokenKeepMs?: number;
  everyMs?: number;
  batch?: number;
  now?: () => number;
}

export interface RetentionPass {
  runs: number;
  events: number;
  servingSpans: number;
  blobs: number;
  /** Revoked runtime tokens deleted. */
  runtimeTokens: number;
}

export class Retention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RetentionPass> | undefined;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly o: RetentionOptions,
  ) {}

  start(): void {
    const tick = () => void this.pass().catch((err) => console.error("[nbox retention] pass failed:", err));
    this.timer = setTimeout(() => {
      tick();
      this.timer = setInterval(tick, this.o.everyMs ?? EVERY_MS).unref();
    }, FIRST_AFTER_MS).unref();
  }

  /** One pass over everything due (a pass under way is joined). */
  pass(): Promise<RetentionPass> {
    return (this.running ??= this.sweep().finally(() => (this.running = undefined)));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.timer);
    await this.running?.catch(() => {});
  }

  private async sweep(): Promise<RetentionPass> {
    const now = (this.o.now ?? Date.now)();
    const out: RetentionPass = { runs: 0, events: 0, servingSpans: 0, blobs: await sweepBlobs(this.o.blobsDir, now - (this.o.blobKeepMs ?? BLOB_KEEP_MS)), runtimeTokens: 0 };
    const tokensBefore = now - (this.o.runtimeTokenKeepMs ?? REVOKED_RUNTIME_TOKEN_KEEP_MS);
    out.runtimeTokens = await this.inBatches((n) => this.store.deleteRevokedRuntimeTokens(tokensBefore, n));
    if (this.o.retainMs === undefined) return out;
    const before = now - this.o.retainMs;
    out.runs = await this.inBatches((n) => this.store.deleteRunsEndedBefore(before, n));
    out.events = await this.inBatches((n) => this.store.deleteEventsBefore(before, n));
    out.servingSpans = await this.inBatches((n) => this.store.deleteServingSpansBefore(before, n));
    return out;
  }

  /** Repeat a batch delete until one comes back short (or the platform stops). */
  private async inBatches(batch: (limit: number) => Promise<number>): Promise<number> {
    const size = this.o.batch ?? BATCH;
    let total = 0;
    while (!this.stopped) {
      const n = await batch(size);
      total += n;
      if (n < size) break;
      await sleep(PAUSE_MS);
    }
    return total;
  }
}
