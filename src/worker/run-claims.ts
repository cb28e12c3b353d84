// Runs BullMQ delivered are claimed at the control plane in batches: the deliveries of one moment
// go out as one request (one statement there) instead of one request each.
import { MAX_CLAIM_RUNS } from "../platform/api/contract/routes-worker.ts";
import type { ControlPlane } from "./control-plane.ts";
import type { RunRow } from "./run-executor.ts";

/** What a claim got: the run (now held here), "held" (another worker still holds it), or null (nothing to run). */
export type Claimed = RunRow | "held" | null;
type Resolver = { resolve(run: Claimed): void; reject(err: unknown): void };

export class RunClaims {
  private pending = new Map<string, Resolver[]>();
  private scheduled = false;

  constructor(
    private readonly cp: ControlPlane,
    private readonly me: { id: string },
    /** Where claimed runs are recorded as held (the heartbeat renews exactly those). */
    private readonly held: { hold(runIds: Iterable<string>): void },
    /** Aborted when the worker stops: a claim the control plane cannot take is not retried after that. */
    private readonly stopping: AbortSignal,
  ) {}

  /** The run, now held by this worker; "held" while another worker holds it; null when it is finished, cancelled or unknown. */
  claim(runId: string): Promise<Claimed> {
    return new Promise((resolve, reject) => {
      const waiting = this.pending.get(runId);
      if (waiting) waiting.push({ resolve, reject });
      else this.pending.set(runId, [{ resolve, reject }]);
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = new Map();
    const ids = [...batch.keys()];
    for (let i = 0; i < ids.length; i += MAX_CLAIM_RUNS) {
      const chunk = ids.slice(i, i + MAX_CLAIM_RUNS);
      try {
        // Safe to repeat: the control plane hands a run again to the worker that claimed it and
        // has not started it, so a claim whose answer was lost is not orphaned.
        const { runs, held } = await this.cp.persist("POST /worker/claim-runs", this.stopping, { body: { workerId: this.me.id, runIds: chunk } });
        this.held.hold(runs.map((r) => r.id));
        const claimed = new Map(runs.map((r) => [r.id, r]));
        const elsewhere = new Set(held);
        for (const id of chunk) {
          // The same run delivered twice at once: only one delivery runs it.
          const [first, ...others] = batch.get(id)!;
          first!.resolve(claimed.get(id) ?? (elsewhere.has(id) ? "held" : null));
          for (const o of others) o.resolve(null);
        }
      } catch (err) {
        for (const id of chunk) for (const r of batch.get(id)!) r.reject(err);
      }
    }
  }
}
