// Runs the store holds as queued that could not be added to BullMQ because Redis was away. Their
// triggers have been answered already (the store row is what promises the run), so they are added
// again in the background, with backoff, until Redis answers. Beyond a bound, or after Redis came
// back (it may have lost its data), the store's queued runs are read and added again instead: adding
// a run already in BullMQ changes nothing.
import type { QueueableRun } from "./bullmq-queue.ts";

/** What {@link PendingAdds} needs from its queue. */
export interface PendingAddsDeps {
  /** Add runs to BullMQ; throws while Redis cannot be reached. */
  add(runs: QueueableRun[]): Promise<void>;
  /** Add every run the store holds as queued (runs it cannot add come back through `keep`). */
  requeueStored(): Promise<void>;
  /** Once when runs start waiting for Redis, once when they are all in the run queue again. */
  log(message: string): void;
}

/** Runs kept in memory at most; beyond this the store is read again once Redis answers. */
const MAX_KEPT = 100_000;
/** Runs per add while catching up. */
const CHUNK = 1_000;
const FIRST_RETRY_MS = 100;
/** Redis connections reconnect at least this often, so a retry comes soon after Redis is back. */
const MAX_RETRY_MS = 2_000;

export class PendingAdds {
  private readonly runs = new Map<string, QueueableRun>();
  private storeScanDue = false;
  private timer: NodeJS.Timeout | undefined;
  private working: Promise<void> | undefined;
  private retryMs = FIRST_RETRY_MS;
  private failing = false;
  private closed = false;

  constructor(private readonly deps: PendingAddsDeps) {}

  /** Runs kept for a later add. */
  get size(): number {
    return this.runs.size;
  }

  /** Keep runs whose add failed (`reason`); they are added once Redis answers. */
  keep(runs: readonly QueueableRun[], reason: string): void {
    for (const r of runs) {
      if (this.runs.size < MAX_KEPT || this.runs.has(r.id)) this.runs.set(r.id, r);
      else this.storeScanDue = true;
    }
    this.noteFailure(reason);
    this.schedule(this.retryMs);
  }

  /** A kept run was cancelled: it is not added any more. True when it was kept here. */
  forget(runId: string): boolean {
    return this.runs.delete(runId);
  }

  /** Redis answers again: add what is kept now, and read the store's queued runs again. */
  reconnected(): void {
    this.storeScanDue = true;
    this.retryMs = FIRST_RETRY_MS;
    this.schedule(0);
  }

  /** Stop adding (the runs kept stay queued in the store; the next start adds them). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.working;
  }

  private schedule(ms: number): void {
    if (this.closed || this.working) return;
    if (this.timer) {
      if (ms > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.working = this.work().finally(() => {
        this.working = undefined;
        // Kept while this pass ran (Redis went away again): the next pass is already due.
        if (this.runs.size > 0 || this.storeScanDue) this.schedule(this.retryMs);
      });
    }, ms);
    this.timer.unref();
  }

  private async work(): Promise<void> {
    while (!this.closed && (this.runs.size > 0 || this.storeScanDue)) {
      try {
        if (this.runs.size > 0) {
          const chunk = [...this.runs.values()].slice(0, CHUNK);
          await this.deps.add(chunk);
          for (const r of chunk) if (this.runs.get(r.id) === r) this.runs.delete(r.id);
        } else {
          this.storeScanDue = false;
          try {
            await this.deps.requeueStored();
          } catch (err) {
            this.storeScanDue = true;
            throw err;
          }
        }
        if (this.failing && this.runs.size === 0 && !this.storeScanDue) {
          this.failing = false;
          this.deps.log("Redis answers again: the runs queued while it was away are in the run queue now");
        }
        this.retryMs = FIRST_RETRY_MS;
      } catch (err) {
        this.noteFailure((err as Error).message);
        this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
        return;
      }
    }
  }

  private noteFailure(reason: string): void {
    if (this.failing || this.closed) return;
    this.failing = true;
    this.deps.log(`runs cannot be added to the run queue: ${reason}. They stay queued in the store and are added once Redis answers`);
  }
}
