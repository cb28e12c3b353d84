import { join } from "node:path";
import type { z } from "@hono/zod-openapi";
import { fromWire } from "../codec/index.ts";
import type { OperatorLocator } from "../operator/locate.ts";
import type { Span } from "../trace/span.ts";
import type { ClaimedRun } from "../platform/api/contract/routes-worker.ts";
import { executeCall, type CallOutcome, type ProcessPool } from "./jobs/index.ts";
import { retryDelayMs } from "../platform/store/runs-repo.ts";
import type { StoredError } from "../platform/store/schema.ts";
import type { ControlPlane } from "./control-plane.ts";
import type { RuntimeLauncher } from "./launcher.ts";
import type { ReportBatcher } from "./report-batcher.ts";
import { workerExecArgv } from "./resource-limits.ts";
import type { Versions } from "./versions.ts";

type RunRow = z.output<typeof ClaimedRun>;

// Runs claimed ahead per slot: one claim statement feeds several calls.
const PREFETCH_PER_SLOT = 4;
// A claim is held open this long by the control plane while the queue is empty.
const CLAIM_WAIT_MS = 20_000;
// After a failed claim (control plane down), wait before the next.
const CLAIM_RETRY_MS = 500;
// On stop, how long to wait for interrupted attempts to be requeued before closing anyway.
const STOP_DRAIN_MS = 10_000;

interface PreparedVersion {
  bundleDir: string;
  locator: OperatorLocator;
  /** `resource.concurrency` of the deployment: runs at once on this worker (0 or unset = no limit). */
  concurrency: number;
  /** Node flags enforcing `resource.memory`. */
  execArgv: string[];
}

function storedError(wire: unknown): StoredError {
  const e = fromWire(wire) as Error;
  return e instanceof Error ? { name: e.name, message: e.message, stack: e.stack } : { name: "Error", message: String(e) };
}

export interface RunLoopDeps {
  cp: ControlPlane;
  workerId: string;
  pool: ProcessPool;
  slots: number;
  output: ReportBatcher;
  versions: Versions;
  launcher: RuntimeLauncher;
}

/** Claims runs from the control plane while slots are free and executes each attempt in a worker process. */
export class RunLoop {
  private active = 0;
  private pumping = false;
  private again = false;
  private stopped = false;
  private readonly claimAbort = new AbortController();
  private readonly controllers = new Map<string, AbortController>();
  /** Cancels that arrived for runs claimed but not yet in `ready` (still being prepared). */
  private readonly cancelSoon = new Set<string>();
  private readonly versions = new Map<string, Promise<PreparedVersion>>();
  private readonly settling = new Set<Promise<void>>();
  /** Claimed (status running) but waiting for a free slot. */
  private ready: RunRow[] = [];
  /** Runs executing now, per deployment (for `resource.concurrency`). */
  private readonly runningPer = new Map<string, number>();
  /** Concurrency limit per deployment, learnt from its version's manifest. */
  private readonly limitPer = new Map<string, number>();
  private readonly workerId: string;
  private readonly output: ReportBatcher;

  constructor(private readonly d: RunLoopDeps) {
    this.workerId = d.workerId;
    this.output = d.output;
  }

  /** The control plane asked to cancel a run this worker holds. */
  cancel(runId: string): void {
    const c = this.controllers.get(runId);
    if (c) return c.abort();
    const i = this.ready.findIndex((r) => r.id === runId);
    if (i >= 0) return this.cancelBeforeStart(this.ready.splice(i, 1)[0]!);
    // Claimed a moment ago and still being prepared (its version downloading, say): cancelled on arrival.
    this.cancelSoon.add(runId);
  }

  private cancelBeforeStart(run: RunRow): void {
    void this.output.finish({ id: run.id, attempt: run.attempt, status: "cancelled", error: { name: "RunCancelledError", message: `run ${run.id} was cancelled before it started` } });
  }

  /** Runs executing or waiting for a slot (the report batcher waits a moment for more finishes then). */
  get busy(): boolean {
    return this.active > 1 || this.ready.length > 0;
  }

  start(): void {
    this.kick();
  }

  /**
   * Stop claiming, interrupt the attempts in flight and wait until each is back in the queue
   * (same attempt number: a worker stop is not the run's failure), so nothing is left `running`.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.claimAbort.abort();
    while (this.pumping) await new Promise((r) => setTimeout(r, 10));
    // Claimed but never started: straight back to the queue, same attempt.
    await Promise.all(this.ready.splice(0).map((run) => this.output.requeue({ id: run.id, attempt: run.attempt, scheduledFor: null, error: null })));
    for (const c of this.controllers.values()) c.abort();
    const deadline = Date.now() + STOP_DRAIN_MS;
    while (this.active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await Promise.all(this.settling);
    await this.output.flush();
  }

  /** Claim and start runs until slots are full (one pump at a time; an empty queue holds the claim open). */
  kick(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void (async () => {
      try {
        do {
          this.again = false;
          while (this.active < this.d.slots && !this.stopped) {
            let run = this.takeStartable();
            if (!run) {
              // One request claims work for every free slot and a few calls ahead, skipping
              // deployments already at their concurrency limit; it waits while the queue is empty.
              const want = this.d.slots * PREFETCH_PER_SLOT - this.active - this.ready.length;
              if (want <= 0) break;
              const claimed = await this.claim(want);
              for (const r of claimed) await this.learnLimit(r);
              for (const r of claimed) {
                if (this.cancelSoon.delete(r.id)) this.cancelBeforeStart(r);
                else this.ready.push(r);
              }
              run = this.takeStartable();
              // Nothing claimed after a held-open claim: claim again. Otherwise runs in flight kick us when they end.
              if (!run) {
                if (claimed.length === 0 && this.active === 0) continue;
                break;
              }
            }
            this.active++;
            this.runningPer.set(run.deploymentId, (this.runningPer.get(run.deploymentId) ?? 0) + 1);
            const started = run;
            void this.execute(started).finally(() => {
              this.active--;
              this.runningPer.set(started.deploymentId, this.runningPer.get(started.deploymentId)! - 1);
              this.kick();
            });
          }
        } while (this.again && !this.stopped);
      } finally {
        this.pumping = false;
      }
    })();
  }

  private async claim(max: number): Promise<RunRow[]> {
    // With runs in flight, do not hold the pump on an empty queue: their ends kick it again.
    const waitMs = this.active > 0 ? 0 : CLAIM_WAIT_MS;
    try {
      const { runs } = await this.d.cp.call("POST /worker/claim", { body: { workerId: this.workerId, max, exclude: this.saturated(), waitMs }, signal: this.claimAbort.signal });
      return runs;
    } catch (err) {
      if (this.stopped) return [];
      console.error(`[nbox worker] claim failed: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, CLAIM_RETRY_MS));
      return [];
    }
  }

  private hasCapacity(deploymentId: string): boolean {
    const limit = this.limitPer.get(deploymentId) ?? 0;
    return limit <= 0 || (this.runningPer.get(deploymentId) ?? 0) < limit;
  }

  /** The oldest claimed run whose deployment is below its limit (removed from `ready`). */
  private takeStartable(): RunRow | undefined {
    const i = this.ready.findIndex((r) => this.hasCapacity(r.deploymentId));
    return i < 0 ? undefined : this.ready.splice(i, 1)[0];
  }

  /** Deployments whose running + waiting runs already fill their limit: not worth claiming more. */
  private saturated(): string[] {
    const out: string[] = [];
    for (const [d, limit] of this.limitPer) {
      if (limit <= 0) continue;
      const waiting = this.ready.filter((r) => r.deploymentId === d).length;
      if ((this.runningPer.get(d) ?? 0) + waiting >= limit) out.push(d);
    }
    return out;
  }

  private async learnLimit(run: RunRow): Promise<void> {
    try {
      this.limitPer.set(run.deploymentId, (await this.prepare(run.versionId)).concurrency);
    } catch {
      // A version that cannot be prepared fails in execute() with the reason; no limit to learn.
    }
  }

  private prepare(versionId: string): Promise<PreparedVersion> {
    let p = this.versions.get(versionId);
    if (!p) {
      p = (async () => {
        const manifest = await this.d.versions.manifest(versionId);
        const bundleDir = await this.d.versions.prepare(manifest);
        return {
          bundleDir,
          locator: { file: join(bundleDir, manifest.entry), exportName: manifest.export, kind: manifest.kind, init: manifest.init, ...(manifest.state ? { state: manifest.state } : {}) },
          concurrency: Number((manifest.resource as { concurrency?: number }).concurrency ?? 0),
          execArgv: workerExecArgv(manifest.resource),
        };
      })();
      p.catch(() => this.versions.delete(versionId));
      this.versions.set(versionId, p);
    }
    return p;
  }

  private async execute(run: RunRow): Promise<void> {
    const out = this.output;
    const startedAt = Date.now();
    const controller = new AbortController();
    this.controllers.set(run.id, controller);
    try {
      if (run.cancelRequested) controller.abort();
      if (run.attempt > 1) out.log(run.id, "system", `attempt ${run.attempt} started on ${this.workerId}`);
      let outcome: CallOutcome;
      try {
        const v = await this.prepare(run.versionId);
        const launch = await this.d.launcher.forWorkspace(run.workspaceId);
        outcome = await executeCall(this.d.pool, {
          key: run.versionId,
          launch,
          bundleDir: v.bundleDir,
          locator: v.locator,
          execArgv: v.execArgv,
          runId: run.id,
          args: run.args as unknown[],
          traceparent: run.traceparent ?? undefined,
          timeoutMs: run.timeoutMs ?? undefined,
          signal: controller.signal,
          onLog: (stream, line) => out.log(run.id, stream, line),
          onSpan: (span: Span) => out.span({ runId: run.id }, span),
          onStart: () => out.started(run.id, startedAt),
        });
      } catch (err) {
        outcome = { ok: false, reason: "error", error: { $nbx: "error", v: { name: "PrepareError", message: (err as Error).message } }, coldStart: false };
      }
      out.ended(run.id);
      // The slot is free as soon as the call is over; storing the outcome goes on in the background.
      const settling = this.settle(run, outcome, startedAt).catch((err) => console.error(`[nbox run-loop] settling run ${run.id} failed:`, err));
      this.settling.add(settling);
      void settling.finally(() => this.settling.delete(settling));
    } finally {
      this.controllers.delete(run.id);
    }
  }

  private async settle(run: RunRow, outcome: CallOutcome, startedAt: number): Promise<void> {
    const out = this.output;
    const workerId = this.workerId;
    const finish = (status: "succeeded" | "failed" | "cancelled" | "timed_out", fields: { result?: unknown; error?: StoredError }) =>
      out.finish({ id: run.id, attempt: run.attempt, status, startedAt, finishedAt: Date.now(), ...fields });
    if (outcome.ok) return finish("succeeded", { result: outcome.value });
    const error = safeStoredError(outcome.error);
    // Back to the queue, after the run's output so far (one report keeps that order). A run whose
    // cancel was asked meanwhile is finished as cancelled by the control plane instead.
    const requeue = async (line: string, input: { attempt?: number; scheduledFor: number | null; error: StoredError }) => {
      out.log(run.id, "system", line);
      await out.requeue({ id: run.id, ...input });
    };
    if (this.stopped) {
      // Interrupted by the worker stopping (not by the run): back to the queue for another worker.
      const why = { name: "WorkerStopped", message: `worker ${workerId} stopped while attempt ${run.attempt} of run ${run.id} was running; requeued` };
      return requeue(`${why.message} (${outcome.reason})`, { attempt: run.attempt, scheduledFor: null, error: why });
    }
    if (outcome.reason === "cancelled") {
      out.log(run.id, "system", "cancelled");
      return finish("cancelled", { error });
    }
    if (run.attempt <= run.maxRetries) {
      const backoff = retryDelayMs(run.retryBackoffMs, run.attempt);
      return requeue(`attempt ${run.attempt} failed (${outcome.reason}: ${error.message}); retrying in ${backoff} ms`, { scheduledFor: Date.now() + backoff, error });
    }
    out.log(run.id, "system", `failed (${outcome.reason}): ${error.name}: ${error.message}`);
    return finish(outcome.reason === "timeout" ? "timed_out" : "failed", { error });
  }
}

function safeStoredError(wire: unknown): StoredError {
  try {
    return storedError(wire);
  } catch {
    return { name: "Error", message: JSON.stringify(wire).slice(0, 500) };
  }
}
