// One attempt of one run, on this worker: prepare its version once (download, verify, install),
// hand the call to a warm child process, and settle what happened — finished, back to the queue for
// a retry, or cancelled — through the worker's report. Whatever hands the worker runs (claims from
// the control plane, or BullMQ deliveries) goes through here, so the run-state rules are written once.
import { join } from "node:path";
import type { z } from "@hono/zod-openapi";
import { fromWire } from "../codec/index.ts";
import type { OperatorLocator } from "../operator/locate.ts";
import type { Span } from "../trace/span.ts";
import type { ClaimedRun } from "../contract/routes-worker.ts";
import { retryDelayMs } from "../contract/retry.ts";
import type { StoredError } from "../contract/vocabulary.ts";
import { executeCall, type CallOutcome, type ProcessPool } from "./jobs/index.ts";
import { batchedCallOutcome } from "../contract/batched-calls.ts";
import type { RuntimeLauncher } from "./launcher.ts";
import type { ReportBatcher } from "./report-batcher.ts";
import { workerExecArgv } from "./resource-limits.ts";
import { concurrencyOf } from "../lib/manifest-concurrency.ts";
import type { Versions } from "./versions.ts";
import type { BundleManifest } from "../bundle/index.ts";
import { SHORT_CALL_MS, callsBehind } from "./prefetch.ts";

export type RunRow = z.output<typeof ClaimedRun>;

/**
 * How an attempt ended, once its report was taken: `retry` — back in the queue for another attempt;
 * `released` — back in the queue at the same attempt (the worker is stopping); `unrecoverable` — failed
 * for good because its version could not be prepared; `{ deferredMs }` — back in the queue at the same
 * attempt, not to be taken before that long (its process could not be launched yet); `abandoned` —
 * the worker joined again under a new id: the run is not its own any more, nothing was reported.
 */
export type Verdict = "succeeded" | "failed" | "cancelled" | "retry" | "released" | "unrecoverable" | "abandoned" | { deferredMs: number };

/** An attempt whose process the control plane would not let start yet: it waits, its attempt unspent. */
type Deferred = { ok: false; reason: "deferred"; error: unknown; deferredMs: number; coldStart: false };

// How long an attempt waits when a refusal to launch named no time.
const DEFAULT_DEFER_MS = 5_000;

interface PreparedVersion {
  manifest: BundleManifest;
  bundleDir: string;
  locator: OperatorLocator;
  /** `resource.concurrency` of the deployment: runs at once on this worker (0 or unset = no limit). */
  concurrency: number;
  /** Node flags enforcing `resource.memory`. */
  execArgv: string[];
}

export interface RunExecutorDeps {
  /** This worker's id at the control plane (it changes if the worker has to register again). */
  me: { id: string };
  pool: ProcessPool;
  output: ReportBatcher;
  versions: Versions;
  launcher: RuntimeLauncher;
}

const PREPARE_ERROR = "PrepareError";
// Weight of the newest call in the running average of call durations.
const PACE_WEIGHT = 0.2;

export class RunExecutor {
  private readonly prepared = new Map<string, Promise<PreparedVersion>>();
  private readonly controllers = new Map<string, AbortController>();
  /**
   * Since when each attempt here has been executing, its process's loading included: a call that
   * waits long for its process holds up the runs behind it like a long call does.
   */
  private readonly executingSince = new Map<string, number>();
  private readonly settling = new Set<Promise<unknown>>();
  /** Set when the worker stops: attempts interrupted from now on go back at the same attempt. */
  stopping = false;
  /** Which registration of the worker attempts belong to: `abandonAll` moves on to the next. */
  private registration = 0;
  /** Running average of call durations (ms); undefined before the first call. */
  private callMsAverage: number | undefined;

  constructor(private readonly d: RunExecutorDeps) {}

  /** The version's concurrency limit (0 = none); 0 when it cannot be prepared (the run then fails with why). */
  async concurrencyOf(versionId: string): Promise<number> {
    try {
      return (await this.prepare(versionId)).concurrency;
    } catch {
      return 0;
    }
  }

  /** Recent calls' average length (ms), undefined before the first. */
  get averageCallMs(): number | undefined {
    return this.callMsAverage;
  }

  /**
   * Whether calls are short enough that holding runs ahead of free slots pays (see SHORT_CALL_MS):
   * recent calls were, and none executing now has taken longer, loading included (a long call says
   * so while it runs, not only once it ends).
   */
  get callsAreShort(): boolean {
    if (this.callMsAverage === undefined || this.callMsAverage >= SHORT_CALL_MS) return false;
    const longSince = Date.now() - SHORT_CALL_MS;
    for (const t of this.executingSince.values()) if (t < longSince) return false;
    return true;
  }

  /**
   * How many calls the attempt handed to the pool now may wait behind in a busy process (0: it waits
   * for a process of its own, however long). While calls are short: as many as their pace allows.
   * Otherwise none — except for an attempt beyond the process slots (more attempts execute here than
   * there are slots): its caller started it as a call to wait behind another while calls were short,
   * and a call ahead has turned long since (its version was being prepared, its process was
   * cold-starting, or it simply runs long). No slot frees for such an attempt until some call ends,
   * so waiting for a process of its own held its run here, claimed and never started, for as long
   * as that call ran, while another worker could have run it. Allowed behind, it waits no longer
   * than a short call for a process or behind one, then goes back to the queue untouched.
   */
  private behindAllowed(): number {
    if (this.callsAreShort) return callsBehind(this.callMsAverage);
    return this.controllers.size > this.d.pool.slots ? 1 : 0;
  }

  /** Abort the attempt of `runId` if it runs here; false when it does not. */
  cancel(runId: string): boolean {
    const c = this.controllers.get(runId);
    c?.abort();
    return c !== undefined;
  }

  abortAll(): void {
    for (const c of this.controllers.values()) c.abort();
  }

  /**
   * The worker was declared dead and joins again under a new id: the control plane took back every
   * run held under the old one (they may run elsewhere already). Their calls are killed as a cancel
   * does, and nothing more is reported for them — no log line, no finish, no requeue: the store
   * would refuse it, or worse, take it for the run's new attempt should this worker claim it again.
   */
  abandonAll(): void {
    this.registration++;
    for (const [runId, c] of this.controllers) {
      this.d.output.ended(runId);
      c.abort();
    }
  }

  get running(): number {
    return this.controllers.size;
  }

  /** Wait for every outcome to be handed to the report. */
  async drain(): Promise<void> {
    await Promise.all(this.settling);
  }

  /** A claimed run cancelled before it started. */
  cancelBeforeStart(run: RunRow): Promise<void> {
    return this.d.output.finish({ id: run.id, attempt: run.attempt, status: "cancelled", error: { name: "RunCancelledError", message: `run ${run.id} was cancelled before it started` } });
  }

  /** A claimed run this worker gives back untouched (same attempt). */
  release(run: RunRow): Promise<boolean> {
    return this.d.output.requeue({ id: run.id, attempt: run.attempt, scheduledFor: null, error: null });
  }

  /**
   * Run one attempt. Resolves when the call is over (the slot is free), with `settled`: the verdict
   * once the outcome was handed to the control plane.
   */
  async execute(run: RunRow): Promise<{ settled: Promise<Verdict> }> {
    const out = this.d.output;
    // When user code started (a call sent behind another starts when that one ends).
    let startedAt = Date.now();
    const controller = new AbortController();
    // The same run may come back here under a new registration while its abandoned call still ends.
    this.controllers.set(run.id, controller);
    this.executingSince.set(run.id, startedAt);
    const registration = this.registration;
    const mine = () => registration === this.registration;
    try {
      if (run.cancelRequested) controller.abort();
      if (run.attempt > 1) out.log(run.id, "system", `attempt ${run.attempt} started on ${this.d.me.id}`);
      let outcome: CallOutcome | Deferred;
      try {
        const v = await this.prepare(run.versionId);
        // A version with a live process reuses it (it holds its token); one without starts a process,
        // whose token is asked for now (a revoked one is never handed to a new process).
        const launch = await (this.d.pool.has(run.versionId) ? this.d.launcher.forWarmCall(run.workspaceId) : this.d.launcher.forWorkspace(run.workspaceId));
        outcome = await executeCall(this.d.pool, {
          key: run.versionId,
          launch,
          bundleDir: v.bundleDir,
          locator: v.locator,
          execArgv: v.execArgv,
          runId: run.id,
          args: run.args as unknown[],
          batched: run.calls != null,
          traceparent: run.traceparent ?? undefined,
          timeoutMs: run.timeoutMs ?? undefined,
          signal: controller.signal,
          behind: this.behindAllowed(),
          onLog: (stream, line) => mine() && out.log(run.id, stream, line),
          onSpan: (span: Span) => mine() && out.span({ runId: run.id }, span),
          onStart: () => {
            startedAt = Date.now();
            if (mine()) out.started(run.id, run.attempt, startedAt);
          },
        });
      } catch (err) {
        outcome = deferral(err) ?? { ok: false, reason: "error", error: { $nbx: "error", v: { name: PREPARE_ERROR, message: err instanceof Error ? err.message : String(err) } }, coldStart: false };
      }
      // Abandoned: cut short (it says nothing about call lengths) and not this worker's to report.
      if (!mine()) return { settled: Promise.resolve<Verdict>("abandoned") };
      out.ended(run.id);
      // A call that never started says nothing about how long calls take.
      if (outcome.ok || (outcome.reason !== "released" && outcome.reason !== "deferred")) {
        const callMs = Date.now() - startedAt;
        this.callMsAverage = this.callMsAverage === undefined ? callMs : this.callMsAverage + PACE_WEIGHT * (callMs - this.callMsAverage);
      }
      const settled = this.settle(run, outcome, startedAt).catch((err): Verdict => {
        console.error(`[nbox worker] settling run ${run.id} failed:`, err);
        return "failed";
      });
      this.settling.add(settled);
      void settled.finally(() => this.settling.delete(settled));
      return { settled };
    } finally {
      if (this.controllers.get(run.id) === controller) {
        this.controllers.delete(run.id);
        this.executingSince.delete(run.id);
      }
    }
  }

  private async prepare(versionId: string): Promise<PreparedVersion> {
    let p = this.prepared.get(versionId);
    if (!p) {
      p = (async () => {
        const manifest = await this.d.versions.manifest(versionId);
        const bundleDir = await this.d.versions.prepare(manifest);
        return {
          manifest,
          bundleDir,
          locator: { file: join(bundleDir, manifest.entry), exportName: manifest.export, kind: manifest.kind, init: manifest.init, ...(manifest.state ? { state: manifest.state } : {}) },
          concurrency: concurrencyOf(manifest),
          execArgv: workerExecArgv(manifest.resource),
        };
      })();
      p.catch(() => this.prepared.delete(versionId));
      this.prepared.set(versionId, p);
      return p;
    }
    const v = await p;
    // No process holds it: its folder may have been evicted from the cache since (made again then),
    // and a new process is about to load it (stamped as used; at most once a minute, cheap).
    if (!this.d.pool.has(versionId)) await this.d.versions.prepare(v.manifest);
    return v;
  }

  private async settle(run: RunRow, outcome: CallOutcome | Deferred, startedAt: number): Promise<Verdict> {
    const out = this.d.output;
    const workerId = this.d.me.id;
    const finish = async (status: "succeeded" | "failed" | "cancelled" | "timed_out", fields: { result?: unknown; error?: StoredError }) => {
      await out.finish({ id: run.id, attempt: run.attempt, status, startedAt, finishedAt: Date.now(), ...(run.calls != null ? { calls: run.calls } : {}), ...fields });
    };
    if (outcome.ok) {
      // A batched run's calls failed one by one: their errors are kept as a run's error is.
      const result = run.calls != null ? (outcome.value as unknown[]).map((c) => batchedCallOutcome(c, safeStoredError)) : outcome.value;
      await finish("succeeded", { result });
      return "succeeded";
    }
    const error = safeStoredError(outcome.error);
    // Back to the queue, after the run's output so far (one report keeps that order). A run whose
    // cancel was asked meanwhile is finished as cancelled by the control plane instead.
    const requeue = async (line: string, input: { attempt?: number; scheduledFor: number | null; error: StoredError }) => {
      out.log(run.id, "system", line);
      return out.requeue({ id: run.id, ...input });
    };
    if (outcome.reason === "deferred") {
      // Nothing ran; the control plane said when a process may be launched again.
      const line = `${error.message}; back in the queue for ${Math.ceil(outcome.deferredMs / 1000)} s (attempt ${run.attempt} not spent)`;
      return (await requeue(line, { attempt: run.attempt, scheduledFor: Date.now() + outcome.deferredMs, error })) ? { deferredMs: outcome.deferredMs } : "cancelled";
    }
    if (outcome.reason === "released") {
      // It waited behind a call that ran long and never started: back to the queue, attempt unspent.
      return (await requeue(`${error.message}; back in the queue (attempt ${run.attempt} not spent)`, { attempt: run.attempt, scheduledFor: null, error })) ? "released" : "cancelled";
    }
    if (this.stopping) {
      // Interrupted by the worker stopping (not by the run): back to the queue for another worker.
      const why = { name: "WorkerStopped", message: `worker ${workerId} stopped while attempt ${run.attempt} of run ${run.id} was running; requeued` };
      return (await requeue(`${why.message} (${outcome.reason})`, { attempt: run.attempt, scheduledFor: null, error: why })) ? "released" : "cancelled";
    }
    if (outcome.reason === "cancelled") {
      out.log(run.id, "system", "cancelled");
      await finish("cancelled", { error });
      return "cancelled";
    }
    if (run.attempt <= run.maxRetries) {
      const backoff = retryDelayMs(run.retryBackoffMs, run.attempt);
      return (await requeue(`attempt ${run.attempt} failed (${outcome.reason}: ${error.message}); retrying in ${backoff} ms`, { scheduledFor: Date.now() + backoff, error })) ? "retry" : "cancelled";
    }
    out.log(run.id, "system", `failed (${outcome.reason}): ${error.name}: ${error.message}`);
    await finish(outcome.reason === "timeout" ? "timed_out" : "failed", { error });
    // Its version could not even be prepared: the queue must not try it again either.
    return error.name === PREPARE_ERROR ? "unrecoverable" : "failed";
  }
}

function safeStoredError(wire: unknown): StoredError {
  try {
    const e = fromWire(wire) as Error;
    return e instanceof Error ? { name: e.name, message: e.message, stack: e.stack } : { name: "Error", message: String(e) };
  } catch {
    return { name: "Error", message: JSON.stringify(wire).slice(0, 500) };
  }
}

/** The launch of the attempt's process was refused for now (RATE_LIMITED: a paced runtime-token re-mint). */
function deferral(err: unknown): Deferred | undefined {
  const e = err as { code?: unknown; retryAfterMs?: unknown; message?: unknown } | null | undefined;
  if (e?.code !== "RATE_LIMITED") return undefined;
  const after = e.retryAfterMs;
  const deferredMs = typeof after === "number" && after > 0 ? after : DEFAULT_DEFER_MS;
  return { ok: false, reason: "deferred", error: { $nbx: "error", v: { name: "LaunchDeferred", message: String(e.message) } }, deferredMs, coldStart: false };
}
