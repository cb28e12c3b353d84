import type { PlatformContext } from "../context.ts";

// A check more often than this buys nothing and only loads the store.
const MIN_BEAT_MS = 50;

/**
 * Keeps this worker's claims alive and takes back the claims of dead ones. Every third of the
 * lease it renews the leases of all runs this worker holds (one statement), then returns runs
 * whose lease lapsed — held by a worker or platform that stopped without finishing them — to
 * the queue (or fails them when the attempt had started and no retries are left).
 */
export class LeaseKeeper {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private beating: Promise<void> | undefined;

  constructor(
    private readonly ctx: PlatformContext,
    private readonly workerId: string,
    private readonly leaseMs: number,
    /** Runs went back to the queue (wake the claimer). */
    private readonly onRequeued: () => void = () => {},
  ) {}

  start(): void {
    const beat = () => {
      this.beating = this.beat().finally(() => {
        this.beating = undefined;
        if (!this.stopped) this.timer = setTimeout(beat, Math.max(MIN_BEAT_MS, Math.floor(this.leaseMs / 3))).unref();
      });
    };
    beat();
  }

  /** Stop beating (after the current beat); runs still held keep their lease until it lapses. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.beating;
  }

  /** One heartbeat: renew our leases first, so a late beat never takes back our own runs. */
  async beat(): Promise<void> {
    const { store } = this.ctx;
    try {
      await store.renewLeases(this.workerId, { leaseMs: this.leaseMs });
      const r = await store.recoverStaleRuns({ lapsedOnly: true });
      if (r.requeued.length + r.retried.length > 0) this.onRequeued();
      // Waiters of runs that ended here hear it now rather than at their next re-read.
      for (const id of [...r.failed, ...r.cancelled]) this.ctx.events.emit("finished", id);
    } catch (err) {
      if (!this.stopped) console.error("[nbox leases] heartbeat failed:", err);
    }
  }
}
