import { join } from "node:path";
import { fromWire } from "../../codec/index.ts";
import type { BundleManifest } from "../../bundle/index.ts";
import type { OperatorLocator } from "../../operator/locate.ts";
import type { Span } from "../../trace/span.ts";
import type { PlatformContext } from "../context.ts";
import { prepareVersion } from "../deployments.ts";
import { executeCall, type CallOutcome, type ProcessPool } from "../executor/index.ts";
import type { RunRow, StoredError } from "../store/schema.ts";
import { RunOutput } from "./run-output.ts";

// Retry backoff doubles per attempt, capped so a long retry chain still makes progress.
const MAX_BACKOFF_MS = 5 * 60_000;
// Wake-up for delayed work (retry backoff) that no event announces.
const IDLE_POLL_MS = 250;
// On stop, how long to wait for interrupted attempts to be requeued before closing anyway.
const STOP_DRAIN_MS = 10_000;

interface PreparedVersion {
  bundleDir: string;
  locator: OperatorLocator;
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
  private readonly onQueued = () => this.kick();
  private readonly onCancel = (runId: string) => this.controllers.get(runId)?.abort();

  constructor(
    private readonly ctx: PlatformContext,
    private readonly pool: ProcessPool,
    private readonly workerId: string,
    private readonly slots: number,
  ) {}

  start(): void {
    this.ctx.events.on("queued", this.onQueued);
    this.ctx.events.on("cancel", this.onCancel);
    const tick = () => {
      this.kick();
      if (!this.stopped) this.timer = setTimeout(tick, IDLE_POLL_MS);
    };
    tick();
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
    for (const c of this.controllers.values()) c.abort();
    const deadline = Date.now() + STOP_DRAIN_MS;
    while (this.active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
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
            const run = await this.ctx.store.claimNextRun(this.workerId);
            if (!run) break;
            this.active++;
            void this.execute(run).finally(() => {
              this.active--;
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
        };
      })();
      p.catch(() => this.versions.delete(versionId));
      this.versions.set(versionId, p);
    }
    return p;
  }

  private async execute(run: RunRow): Promise<void> {
    const output = new RunOutput(this.ctx, run.id);
    const controller = new AbortController();
    this.controllers.set(run.id, controller);
    try {
      if (run.cancelRequested) controller.abort();
      output.system(`attempt ${run.attempt} started on ${this.workerId}`);
      let outcome: CallOutcome;
      try {
        const v = await this.prepare(run.versionId);
        outcome = await executeCall(this.pool, {
          key: run.versionId,
          bundleDir: v.bundleDir,
          locator: v.locator,
          runId: run.id,
          args: run.args as unknown[],
          traceparent: run.traceparent ?? undefined,
          timeoutMs: run.timeoutMs ?? undefined,
          signal: controller.signal,
          onLog: (stream, line) => output.log(stream, line),
          onSpan: (span: Span) => output.span(span),
        });
      } catch (err) {
        outcome = { ok: false, reason: "error", error: { $nbx: "error", v: { name: "PrepareError", message: (err as Error).message } }, coldStart: false };
      }
      await this.settle(run, outcome, output);
    } finally {
      this.controllers.delete(run.id);
      await output.close();
      this.ctx.events.emit("finished", run.id);
    }
  }

  private async settle(run: RunRow, outcome: CallOutcome, output: RunOutput): Promise<void> {
    const store = this.ctx.store;
    const workerId = this.workerId;
    if (outcome.ok) {
      await output.flush();
      await store.finishRun(run.id, { status: "succeeded", result: outcome.value, workerId });
      return;
    }
    const error = safeStoredError(outcome.error);
    if (this.stopped) {
      // Interrupted by the platform stopping (not by the run): back to the queue for the next start.
      const why = { name: "PlatformStopped", message: `the platform stopped while attempt ${run.attempt} of run ${run.id} was running; requeued` };
      output.system(`${why.message} (${outcome.reason})`);
      await output.flush();
      if (await store.requeueForRetry(run.id, { attempt: run.attempt, scheduledFor: null, error: why, workerId })) return;
      await store.finishRun(run.id, { status: "cancelled", error, workerId });
      return;
    }
    if (outcome.reason === "cancelled") {
      output.system("cancelled");
      await output.flush();
      await store.finishRun(run.id, { status: "cancelled", error, workerId });
      return;
    }
    if (run.attempt <= run.maxRetries) {
      const backoff = Math.min(run.retryBackoffMs * 2 ** (run.attempt - 1), MAX_BACKOFF_MS);
      output.system(`attempt ${run.attempt} failed (${outcome.reason}: ${error.message}); retrying in ${backoff} ms`);
      await output.flush();
      if (await store.requeueForRetry(run.id, { scheduledFor: Date.now() + backoff, error, workerId })) return;
      await output.flush();
      await store.finishRun(run.id, { status: "cancelled", error, workerId });
      return;
    }
    output.system(`failed (${outcome.reason}): ${error.name}: ${error.message}`);
    await output.flush();
    await store.finishRun(run.id, { status: outcome.reason === "timeout" ? "timed_out" : "failed", error, workerId });
  }
}

function safeStoredError(wire: unknown): StoredError {
  try {
    return storedError(wire);
  } catch {
    return { name: "Error", message: JSON.stringify(wire).slice(0, 500) };
  }
}
