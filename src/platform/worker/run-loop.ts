import { join } from "node:path";
import { fromWire } from "../../codec/index.ts";
import type { BundleManifest } from "../../bundle/index.ts";
import type { OperatorLocator } from "../../operator/locate.ts";
import type { Span } from "../../trace/span.ts";
import type { PlatformContext } from "../context.ts";
import { prepareVersion } from "../deployments.ts";
import { executeCall, type CallOutcome, type ProcessPool } from "../executor/index.ts";
import { retryDelayMs } from "../store/runs-repo.ts";
import type { RunRow, StoredError } from "../store/schema.ts";
import { LeaseKeeper } from "./lease-keeper.ts";
import { OutputWriter } from "./output-writer.ts";
import { workerExecArgv } from "./resource-limits.ts";

// Runs claimed ahead per slot: one claim statement feeds several calls.
const PREFETCH_PER_SLOT = 4;
// Wake-up for delayed work (retry backoff) that no event announces.
const IDLE_POLL_MS = 250;
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

/** Claims queued runs while slots are free and executes each attempt in a worker process. */
export class RunLoop {
  private active = 0;
  private pumping = false;
  private again = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly controllers = new Map<string, AbortController>();
  private readonly versions = new Map<string, Promise<PreparedVersion>>();
  private readonly output: OutputWriter;
  private readonly leases: LeaseKeeper;
  private readonly settling = new Set<Promise<void>>();
  /** Claimed (status running) but waiting for a free slot. */
  private ready: RunRow[] = [];
  /** Runs executing now, per deployment (for `resource.concurrency`). */
  private readonly runningPer = new Map<string, number>();
  /** Concurrency limit per deployment, learnt from its version's manifest. */
  private readonly limitPer = new Map<string, number>();
  /** False after a claim came back short: the next claim waits for news (a queued event or the idle tick). */
  private maybeQueued = true;
  /** Counts queued events, so a claim that raced with one does not conclude the queue is empty. */
  private queuedSeq = 0;
  private readonly onQueued = () => {
    this.maybeQueued = true;
    this.queuedSeq++;
    this.kick();
  };
  private readonly onCancel = (runId: string) => {
    this.controllers.get(runId)?.abort();
    const i = this.ready.findIndex((r) => r.id === runId);
    if (i >= 0) {
      const [run] = this.ready.splice(i, 1);
      void this.output.finish({ id: run!.id, attempt: run!.attempt, status: "cancelled", workerId: this.workerId, error: { name: "RunCancelledError", message: `run ${run!.id} was cancelled before it started` } });
    }
  };

  constructor(
    private readonly ctx: PlatformContext,
    private readonly pool: ProcessPool,
    private readonly workerId: string,
    private readonly slots: number,
  ) {
    // The run being settled still counts as active: "busy" means other runs are in flight.
    this.output = new OutputWriter(ctx, workerId, () => this.active > 1 || this.ready.length > 0);
    this.leases = new LeaseKeeper(ctx, workerId, ctx.config.leaseMs, this.onQueued);
  }

  start(): void {
    this.ctx.events.on("queued", this.onQueued);
    this.ctx.events.on("cancel", this.onCancel);
    const tick = () => {
      // Delayed work (retry backoff, runs queued by other nodes) announces itself only through time.
      this.maybeQueued = true;
      this.kick();
      if (!this.stopped) this.timer = setTimeout(tick, IDLE_POLL_MS);
    };
    tick();
    this.leases.start();
  }

  /**
   * Stop claiming, interrupt the attempts in flight and wait until each is back in the queue
   * (same attempt number: a platform stop is not the run's failure), so nothing is left `running`.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ctx.events.off("queued", this.onQueued);
    this.ctx.events.off("cancel", this.onCancel);
    while (this.pumping) await new Promise((r) => setTimeout(r, 10));
    // Claimed but never started: straight back to the queue, same attempt.
    for (const run of this.ready.splice(0)) {
      await this.ctx.store.requeueForRetry(run.id, { attempt: run.attempt, scheduledFor: null, error: null, workerId: this.workerId });
    }
    for (const c of this.controllers.values()) c.abort();
    const deadline = Date.now() + STOP_DRAIN_MS;
    while (this.active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await Promise.all(this.settling);
    await this.output.flush();
    // Held runs stay leased until every one is settled above.
    await this.leases.stop();
  }

  /** Write buffered run output (logs, spans) now, e.g. before an API read of a run's spans. */
  flushOutput(): Promise<void> {
    return this.output.flush();
  }

  /** Claim and start runs until slots are full or the queue is empty (one pump at a time). */
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
          while (this.active < this.slots && !this.stopped) {
            let run = this.takeStartable();
            if (!run) {
              if (!this.maybeQueued) break;
              // One statement claims work for every free slot and a few calls ahead, skipping
              // deployments already at their concurrency limit.
              const want = this.slots * PREFETCH_PER_SLOT - this.active - this.ready.length;
              const seq = this.queuedSeq;
              const claimed =
                want > 0 ? await this.ctx.store.claimNextRuns(this.workerId, want, { excludeDeploymentIds: this.saturated(), leaseMs: this.ctx.config.leaseMs }) : [];
              if (claimed.length < want && seq === this.queuedSeq) this.maybeQueued = false;
              for (const r of claimed) await this.learnLimit(r);
              this.ready.push(...claimed);
              run = this.takeStartable();
              if (!run) break;
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
      } catch (err) {
        if (!this.stopped) console.error("[nbox run-loop] claim failed:", err);
      } finally {
        this.pumping = false;
      }
    })();
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
        const v = await this.ctx.store.getVersion(versionId);
        if (!v) throw new Error(`deployment version ${versionId} is gone`);
        const manifest = v.manifest as unknown as BundleManifest;
        const bundleDir = await prepareVersion(this.ctx, manifest);
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
        const launch = await this.ctx.launcher?.forWorkspace(run.workspaceId);
        outcome = await executeCall(this.pool, {
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
          onSpan: (span: Span) => out.span(run.id, span),
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
      out.finish({ id: run.id, attempt: run.attempt, status, workerId, startedAt, finishedAt: Date.now(), ...fields });
    if (outcome.ok) return finish("succeeded", { result: outcome.value });
    const error = safeStoredError(outcome.error);
    // Back to the queue: the run's output so far is written first, then the requeue.
    const requeue = async (line: string, input: { attempt?: number; scheduledFor: number | null; error: StoredError }) => {
      out.log(run.id, "system", line);
      await out.flush();
      if (!(await this.ctx.store.requeueForRetry(run.id, { ...input, workerId }))) await finish("cancelled", { error });
    };
    if (this.stopped) {
      // Interrupted by the platform stopping (not by the run): back to the queue for the next start.
      const why = { name: "PlatformStopped", message: `the platform stopped while attempt ${run.attempt} of run ${run.id} was running; requeued` };
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
