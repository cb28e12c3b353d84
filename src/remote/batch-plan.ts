// How many of a remote map's items one run carries. A run costs the platform the same whether its
// call takes a microsecond or a minute (a row, a claim, a report, a wait), so short calls go
// several to a run (batched calls, one outcome each) and long ones one to a run, as before.
import type { DeploymentInfo, RunInfo } from "./types.ts";

/** Work one batched run should hold: short enough that a slow batch holds nothing up for long. */
const TARGET_RUN_MS = 200;
/** Calls per run while nothing is known about how long they take. */
const FIRST_GUESS_CALLS = 8;
/** Most calls one run carries from here: its result (every outcome) travels in one report and one answer. */
const MAX_CALLS = 256;
/** A fan-out keeps at least this many runs out, so that every worker slot gets some… */
const MIN_RUNS_PER_FLUSH = 16;
/** …unless that makes runs of less work than this: spreading tiny calls buys no parallelism worth a run's cost. */
const MIN_RUN_MS = 1;
/** Result bytes one run should carry: every outcome travels in one report and one answer. */
const TARGET_RESULT_BYTES = 1024 * 1024;
/** Weight of each new measurement in the running averages. */
const PACE_WEIGHT = 0.3;

export class BatchPlan {
  /** Batched calls are used (a job without retries, on a platform that has them). */
  private enabled: boolean;
  /** Running average of one call's length (ms), from the runs heard back. */
  private callMs: number | undefined;
  /** Running average of one call's result size (bytes of JSON), from the runs heard back. */
  private resultBytes: number | undefined;

  constructor(deployment: Pick<DeploymentInfo, "maxRetries">) {
    // An older platform does not say (and takes no batched calls); a job with retries retries each call alone.
    this.enabled = deployment.maxRetries === 0;
  }

  /** Whether short calls travel several to a run (for now). */
  get batching(): boolean {
    return this.enabled;
  }

  /** The platform refused batched calls for this job (redeployed with retries): one call per run from now on. */
  disable(): void {
    this.enabled = false;
  }

  /**
   * Calls per run for a flush of `pending` items while `running` runs of this fan-out are still out.
   * The spread only matters while few runs are out: a steady fan-out's flushes are small (the items
   * whose results just came back), and spreading each of them would make every run a call or two.
   */
  callsPerRun(pending: number, running = 0): number {
    if (!this.enabled || pending < 2) return 1;
    const byTime = this.callMs === undefined ? FIRST_GUESS_CALLS : Math.floor(TARGET_RUN_MS / Math.max(this.callMs, 0.001));
    const bySize = this.resultBytes === undefined ? Infinity : Math.floor(TARGET_RESULT_BYTES / Math.max(this.resultBytes, 1));
    const runsWanted = MIN_RUNS_PER_FLUSH - running;
    const spread = runsWanted > 0 ? Math.ceil(pending / runsWanted) : Infinity;
    const bySpread = Math.max(spread, this.callMs === undefined ? 1 : Math.floor(MIN_RUN_MS / Math.max(this.callMs, 0.001)));
    return Math.max(1, Math.min(byTime, bySize, bySpread, MAX_CALLS));
  }

  /** A run finished: learn how long its calls took and how large their results are. */
  heard(run: Pick<RunInfo, "startedAt" | "finishedAt" | "calls" | "status" | "result">): void {
    if (!this.enabled || run.status !== "succeeded" || !run.startedAt || !run.finishedAt) return;
    const calls = run.calls ?? 1;
    const ms = (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / calls;
    if (Number.isFinite(ms) && ms >= 0) this.callMs = average(this.callMs, ms);
    // The text again costs about what parsing the answer did: small next to the run it stands for.
    this.resultBytes = average(this.resultBytes, (JSON.stringify(run.result ?? null)?.length ?? 4) / calls);
  }
}

function average(mean: number | undefined, x: number): number {
  return mean === undefined ? x : mean + PACE_WEIGHT * (x - mean);
}
