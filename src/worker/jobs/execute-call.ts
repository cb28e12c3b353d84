// One attempt of one call: get a process for the deployment version, cold-start it if needed
// (traced as its own span), run the call, and turn every way it can end into one outcome.
// Retries, backoff, queueing and persistence belong to the layer that calls this.
import { fromWire } from "../../codec/index.ts";
import type { OperatorLocator } from "../../operator/locate.ts";
import { newSpanId, newTraceId } from "../../trace/ids.ts";
import type { Span } from "../../trace/span.ts";
import { formatTraceParent, parseTraceParent } from "../../trace/traceparent.ts";
import { RUN_CANCELLED, RUN_RELEASED, RUN_TIMEOUT, executorErrorWire } from "../../contract/run-errors.ts";
import { PoolClosedError, type ProcessPool } from "./process-pool.ts";
import type { JobCall, LoadOutcome, LogStream, WorkerProcess } from "./worker-process.ts";
import { SHORT_CALL_MS } from "../prefetch.ts";
import { PROGRESS_MS } from "../runtime/protocol.ts";
import type { RuntimeLaunch } from "../spawn-runtime.ts";

const DEFAULT_LOAD_TIMEOUT_MS = 5 * 60_000;

export interface ExecuteCallOptions {
  /** Deployment version id: processes are only reused for the same key. */
  key: string;
  bundleDir: string;
  locator: OperatorLocator;
  /** Node flags for a newly forked process (e.g. a heap limit from `resource.memory`). */
  execArgv?: string[];
  /** Extra environment for a newly forked process (undefined deletes an inherited variable). */
  env?: Record<string, string | undefined>;
  /** How a newly forked process is started: sandbox, workspace token (absent: unsandboxed, no token). */
  launch?: RuntimeLaunch;
  runId: string;
  /** Codec wire values. */
  args: unknown[];
  /** `args` lists the argument lists of a batched run's calls (its value then lists their outcomes). */
  batched?: boolean;
  /** Caller's W3C traceparent: the cold-start span and the run's spans become its children. */
  traceparent?: string;
  /** Call this method of the loaded target instead of calling the target itself. */
  method?: string;
  /** Limit on the call itself, once the process is ready (0 times out at once). None by default. */
  timeoutMs?: number;
  /** Limit on a cold start (fork + import + remoteInit). Default 5 minutes. */
  loadTimeoutMs?: number;
  signal?: AbortSignal;
  /**
   * More calls than the process slots (short calls): it may be sent behind a running call of the
   * same version where fewer than this many wait, to start the moment the ones ahead end. It waits no
   * longer than a short call for a process or behind one; then it ends `released`, never started.
   * 0 or absent: it waits for a process of its own.
   */
  behind?: number;
  /** How long a call allowed `behind` waits for a process or behind one (default: a short call, SHORT_CALL_MS). */
  behindWaitMs?: number;
  /** One line of output (`system` = the executor's own notes: cold start, kill, crash). */
  onLog?: (stream: LogStream, line: string) => void;
  onSpan?: (span: Span) => void;
  /** The call is being handed to the (loaded) process: user code for it starts now. Not called if it never gets that far. */
  onStart?: () => void;
}

/** `released`: a call allowed behind another never started (see ExecuteCallOptions.behind); its run goes back to the queue untouched. */
export type CallFailureReason = "error" | "timeout" | "crash" | "cancelled" | "released";

/** Where the call ran: for run records and the dashboard. */
export interface CallInfo {
  pid?: number;
  coldStart: boolean;
  /** Fork → ready, as measured by the parent (cold starts only). */
  coldStartMs?: number;
}

export type CallOutcome = ({ ok: true; value: unknown } | { ok: false; error: unknown; reason: CallFailureReason }) & CallInfo;

export async function executeCall(pool: ProcessPool, o: ExecuteCallOptions): Promise<CallOutcome> {
  if (!o.batched) return attemptCall(pool, o);
  const done: unknown[] = [];
  return batchedOutcome(await attemptCall(pool, o, done), done, o.args.length);
}

/**
 * A batched run's outcome: every call's, in order. A process that crashed or ran out of time ended
 * the calls it had not reported: they fail with that error, saying they may not have run (the
 * ones it reported keep their outcome). A cancel, a release or a failed load ends the run as a whole.
 */
function batchedOutcome(r: CallOutcome, done: unknown[], calls: number): CallOutcome {
  if (r.ok) return { ...r, value: [...done, ...(r.value as unknown[])] };
  if (r.reason !== "crash" && r.reason !== "timeout") return r;
  const cut = errorInfo(r.error);
  const left = Array.from({ length: calls - done.length }, (_, i) => {
    const note = i === 0 ? "this call was running or next" : `call ${done.length + i} of ${calls} may not have run`;
    return { ok: false, code: r.reason === "crash" ? "WORKER_CRASHED" : "TIMEOUT", error: executorErrorWire(cut.name, `${cut.message} (${note}; the run's first ${done.length} calls had ended)`) };
  });
  return { ok: true, value: [...done, ...left], pid: r.pid, coldStart: r.coldStart, coldStartMs: r.coldStartMs };
}

/** One attempt of the call; `progress` collects a batched run's outcomes as its child reports them. */
async function attemptCall(pool: ProcessPool, o: ExecuteCallOptions, progress?: unknown[]): Promise<CallOutcome> {
  const log = (stream: LogStream, line: string) => safely(() => o.onLog?.(stream, line));
  const emitSpan = (span: Span) => safely(() => o.onSpan?.(span));
  const cancelledError = () => executorErrorWire(RUN_CANCELLED, `run ${o.runId} was cancelled`);
  if (o.signal?.aborted) return { ok: false, reason: "cancelled", error: cancelledError(), coldStart: false };

  // The cold-start span's id is picked up front so the child can parent its load-time spans to it.
  const parent = parseTraceParent(o.traceparent);
  const cold = { traceId: parent?.traceId ?? newTraceId(), spanId: newSpanId() };
  const spawn = {
    bundleDir: o.bundleDir,
    locator: o.locator,
    env: o.env,
    launch: o.launch,
    execArgv: o.execArgv,
    loadTraceparent: formatTraceParent({ ...cold, sampled: true }),
  };

  // A call allowed behind others is beyond the process slots: it does not wait for a process longer
  // than a short call, and taken back from behind a call before it started (one ahead ran long, or
  // its process went away) it ends `released` — it never ran, and its run goes
  // back to the queue untouched for whichever worker is free first.
  const released = (why: string): CallOutcome => ({ ok: false, reason: "released", error: executorErrorWire(RUN_RELEASED, `run ${o.runId} ${why}`), coldStart: false });
  const behindWaitMs = o.behindWaitMs ?? SHORT_CALL_MS;
  let proc: WorkerProcess;
  try {
    proc = await pool.acquire(o.key, spawn, { signal: o.signal, behind: o.behind, ...(o.behind ? { waitMs: behindWaitMs } : {}) });
  } catch (err) {
    if (o.signal?.aborted) return { ok: false, reason: "cancelled", error: cancelledError(), coldStart: false };
    if (o.behind && !(err instanceof PoolClosedError)) return released(`found no free worker process within ${behindWaitMs} ms`);
    return { ok: false, reason: "error", error: executorErrorWire("ExecutorError", `no worker process: ${err instanceof Error ? err.message : String(err)}`), coldStart: false };
  }

  // Cold start and the call have separate limits: a slow import must not eat the user's run budget.
  let stop = interruptions(o.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS, o.signal);
  const info: CallInfo = { pid: proc.pid, coldStart: proc.state === "loading" };
  let keep = false;
  try {
    if (proc.state === "loading") {
      const loaded = await coldStart(proc, stop.promise, o, cold, parent?.spanId ?? null, info, log, emitSpan);
      if (typeof loaded === "string") return { ...(await interrupt(pool, proc, loaded, o, log, "load")), ...info };
      if (!loaded.ok) return { ...loaded, ...info };
    }
    stop.dispose();
    // A batched run's limit is each call's: the clock starts again whenever calls are reported
    // ended (they are reported at most PROGRESS_MS late, so a call never gets less than its limit).
    const onProgress = progress && ((outcomes: unknown[]) => (progress.push(...outcomes), stop.restart()));
    const call = proc.run(o.runId, o.args, { onLog: log, onSpan: emitSpan, onProgress }, o.traceparent, o.method, o.batched);
    if (call.waiting && !(await startOf(call, o.signal, behindWaitMs))) {
      await call.outcome;
      keep = proc.alive; // our share of it goes back; the call ahead still holds it
      if (o.signal?.aborted) return { ok: false, reason: "cancelled", error: cancelledError(), coldStart: false };
      return released("waited behind a call that ran long (or whose process ended) and never started");
    }
    stop = interruptions(progress && o.timeoutMs !== undefined ? o.timeoutMs + PROGRESS_MS : o.timeoutMs, o.signal);
    safely(() => o.onStart?.());
    const r = await Promise.race([call.outcome, stop.promise]);
    if (typeof r === "string") return { ...(await interrupt(pool, proc, r, o, log, "run")), ...info };
    // Taken back, and the process says it never ran the call (it still waited): whatever this side
    // believed about its start, user code did not run — its run goes back to the queue untouched.
    // (A `dropped` answer nobody asked for is user code writing to the channel: a crash.)
    if (!r.ok && r.reason === "dropped" && call.dropAsked) {
      keep = proc.alive;
      return released("was taken back by its worker process before it started");
    }
    if (!r.ok && r.reason === "crash") log("system", errorInfo(r.error).message);
    // A user error leaves the process healthy and warm; a crash leaves nothing to keep.
    keep = r.ok || r.reason === "error";
    return { ...(r.ok ? r : { ok: false, reason: r.reason === "error" ? "error" : "crash", error: r.error }), ...info };
  } finally {
    stop.dispose();
    if (keep) pool.release(proc);
    // Wait for the exit so a retry right after this finds the slot free again.
    else if (proc.alive) await pool.kill(proc, "call failed");
  }
}

/** Fork → ready of a new process, traced as the cold-start span; what interrupted it, or the load's outcome. */
async function coldStart(
  proc: WorkerProcess,
  interrupted: Promise<"timeout" | "cancelled">,
  o: ExecuteCallOptions,
  cold: { traceId: string; spanId: string },
  parentSpanId: string | null,
  info: CallInfo,
  log: (stream: LogStream, line: string) => void,
  emitSpan: (span: Span) => void,
): Promise<"timeout" | "cancelled" | LoadOutcome> {
  log("system", `cold start: forked worker process ${proc.pid} for ${o.key}`);
  if (proc.loaderWhy) log("system", `its TypeScript loads through the loader (a slower cold start): ${proc.loaderWhy}`);
  proc.attach({ onLog: log, onSpan: emitSpan });
  let loaded: "timeout" | "cancelled" | LoadOutcome;
  try {
    loaded = await Promise.race([proc.loaded, interrupted]);
  } finally {
    proc.detach();
  }
  const end = proc.readyAt ?? Date.now();
  info.coldStartMs = end - proc.spawnedAt;
  const failure = typeof loaded === "string" ? { name: loaded === "timeout" ? RUN_TIMEOUT : RUN_CANCELLED, message: `interrupted by ${loaded}` } : loaded.ok ? undefined : errorInfo(loaded.error);
  emitSpan({
    traceId: cold.traceId,
    spanId: cold.spanId,
    parentSpanId,
    op: "cold-start",
    name: "cold-start",
    start: proc.spawnedAt,
    end,
    status: failure ? "error" : "ok",
    ...(failure ? { error: failure } : {}),
    attributes: {
      pid: proc.pid,
      key: o.key,
      ...(typeof loaded === "object" && loaded.ok ? { childColdStartMs: loaded.coldStartMs, loadMs: loaded.loadMs } : {}),
    },
  });
  if (typeof loaded === "object") {
    if (!loaded.ok) log("system", `worker process ${proc.pid} could not load ${o.locator.exportName}: ${errorInfo(loaded.error).message}`);
    else log("system", `worker process ${proc.pid} ready in ${Math.round(info.coldStartMs)} ms`);
  }
  return loaded;
}

/**
 * Wait until a call sent behind a running one starts. A cancel takes it back, and so does a call
 * ahead that runs longer than `waitMs` (a short call): it would wait behind it for long, while another process
 * may be free sooner. True once it started (also when taking it back came too late).
 */
async function startOf(call: JobCall, signal: AbortSignal | undefined, waitMs: number): Promise<boolean> {
  const takeBack = () => call.drop();
  const timer = setTimeout(takeBack, waitMs);
  if (signal?.aborted) takeBack();
  else signal?.addEventListener("abort", takeBack, { once: true });
  try {
    return await call.started;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", takeBack);
  }
}

/** Kill the process of an interrupted call; resolves once it is gone (its last lines delivered). */
async function interrupt(
  pool: ProcessPool,
  proc: WorkerProcess,
  why: "timeout" | "cancelled",
  o: ExecuteCallOptions,
  log: (stream: LogStream, line: string) => void,
  phase: "load" | "run",
): Promise<{ ok: false; error: unknown; reason: "timeout" | "cancelled" }> {
  const limit = phase === "load" ? (o.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS) : o.timeoutMs;
  const message =
    why === "cancelled"
      ? `run ${o.runId} was cancelled`
      : phase === "load"
        ? `run ${o.runId} timed out after ${limit} ms waiting for its worker process to load`
        : `run ${o.runId} timed out after ${limit} ms`;
  log("system", `${message}: stopping worker process ${proc.pid}`);
  await pool.kill(proc, why);
  return { ok: false, reason: why, error: executorErrorWire(why === "timeout" ? RUN_TIMEOUT : RUN_CANCELLED, message, why === "timeout" ? { timeoutMs: limit } : undefined) };
}

/** A promise that settles with why the call must stop (timeout or abort); never rejects. */
function interruptions(timeoutMs: number | undefined, signal: AbortSignal | undefined) {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  let arm = () => {};
  let disposed = false;
  const promise = new Promise<"timeout" | "cancelled">((resolve) => {
    arm = () => {
      clearTimeout(timer);
      if (disposed) return;
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) timer = setTimeout(() => resolve("timeout"), Math.max(0, timeoutMs));
    };
    arm();
    if (signal) {
      onAbort = () => resolve("cancelled");
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    }
  });
  return {
    promise,
    /** The time limit counts from now (a batched run's calls ended). */
    restart: () => arm(),
    dispose() {
      disposed = true;
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    },
  };
}

function errorInfo(wire: unknown): { name: string; message: string; stack?: string } {
  try {
    const e = fromWire(wire);
    if (e instanceof Error) return { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
    return { name: "Error", message: String(e) };
  } catch {
    return { name: "Error", message: "unreadable error" };
  }
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A throwing log/span consumer must not break the call it observes.
  }
}
