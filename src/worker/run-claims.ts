// Runs BullMQ delivered are claimed at the control plane in batches: the deliveries of one moment
// go out together (one statement there), riding on the worker's next report — so a run's finish
// and the claim of the next delivery usually cost one request.
import { MAX_CLAIM_RUNS } from "../contract/routes-worker.ts";
import type { RunRow } from "./run-executor.ts";

/** What a claim got: the run (now held here), "held" (another worker still holds it), or null (nothing to run). */
export type Claimed = RunRow | "held" | null;
type Resolver = { resolve(run: Claimed): void; reject(err: unknown): void };

/** Where claims go out: with the next report, which answers them. */
export interface ClaimCarrier {
  claim(runIds: string[]): Promise<{ claimed: RunRow[]; held: string[] }>;
}

export class RunClaims {
  private pending = new Map<string, Resolver[]>();
  private scheduled = false;

  constructor(private readonly carrier: ClaimCarrier) {}

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
        const { claimed: runs, held } = await this.carrier.claim(chunk);
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
