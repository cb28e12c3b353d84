// One attempt of one call: get a process for the deployment version, cold-start it if needed
// (traced as its own span), run the call, and turn every way it can end into one outcome.
// Retries, backoff, queueing and persistence belong to the layer that calls this.
import { fromWire } from "../../codec/index.ts";
import type { OperatorLocator } from "../../operator/locate.ts";
import { newSpanId, newTraceId } from "../../trace/ids.ts";
import type { Span } from "../../trace/span.ts";
import { formatTraceParent, parseTraceParent } from "../../trace/traceparent.ts";
import { RUN_CANCELLED, RUN_TIMEOUT, executorErrorWire } from "../../contract/run-errors.ts";
import type { ProcessPool } from "./process-pool.ts";
import type { LogStream, WorkerProcess } from "./worker-process.ts";
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
  /** Caller's W3C traceparent: the cold-start span and the run's spans become its children. */
  traceparent?: string;
  /** Call this method of the loaded target instead of calling the target itself. */
  method?: string;
  /** Limit on the call itself, once the process is ready (0 times out at once). None by default. */
  timeoutMs?: number;
  /** Limit on a cold start (fork + import + remoteInit). Default 5 minutes. */
  loadTimeoutMs?: number;
  signal?: AbortSignal;
  /** One line of output (`system` = the executor's own notes: cold start, kill, crash). */
  onLog?: (stream: LogStream, line: string) => void;
  onSpan?: (span: Span) => void;
  /** The call is being handed to the (loaded) process: user code for it starts now. Not called if it never gets that far. */
  onStart?: () => void;
}

export type CallFailureReason = "error" | "timeout" | "crash" | "cancelled";

/** Where the call ran: for run records and the dashboard. */
export interface CallInfo {
  pid?: number;
  coldStart: boolean;
  /** Fork → ready, as measured by the parent (cold starts only). */
  coldStartMs?: number;
}

export type CallOutcome = ({ ok: true; value: unknown } | { ok: false; error: unknown; reason: CallFailureReason }) & CallInfo;

export async function executeCall(pool: ProcessPool, o: ExecuteCallOptions): Promise<CallOutcome> {
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

  let proc: WorkerProcess;
  try {
    proc = await pool.acquire(o.key, spawn, { signal: o.signal });
  } catch (err) {
    if (o.signal?.aborted) return { ok: false, reason: "cancelled", error: cancelledError(), coldStart: false };
    return { ok: false, reason: "error", error: executorErrorWire("ExecutorError", `no worker process: ${err instanceof Error ? err.message : String(err)}`), coldStart: false };
  }

  // Cold start and the call have separate limits: a slow import must not eat the user's run budget.
  let stop = interruptions(o.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS, o.signal);
  const info: CallInfo = { pid: proc.pid, coldStart: proc.state === "loading" };
  let keep = false;
  proc.attach({ onLog: log, onSpan: emitSpan });
  try {
    if (proc.state === "loading") {
      log("system", `cold start: forked worker process ${proc.pid} for ${o.key}`);
      const loaded = await Promise.race([proc.loaded, stop.promise]);
      const end = proc.readyAt ?? Date.now();
      info.coldStartMs = end - proc.spawnedAt;
      const failure = typeof loaded === "string" ? { name: loaded === "timeout" ? RUN_TIMEOUT : RUN_CANCELLED, message: `interrupted by ${loaded}` } : loaded.ok ? undefined : errorInfo(loaded.error);
      emitSpan({
        traceId: cold.traceId,
        spanId: cold.spanId,
        parentSpanId: parent?.spanId ?? null,
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
      if (typeof loaded === "string") return { ...(await interrupt(pool, proc, loaded, o, log, "load")), ...info };
      if (!loaded.ok) {
        log("system", `worker process ${proc.pid} could not load ${o.locator.exportName}: ${errorInfo(loaded.error).message}`);
        return { ...loaded, ...info };
      }
      log("system", `worker process ${proc.pid} ready in ${Math.round(info.coldStartMs)} ms`);
    }
    stop.dispose();
    stop = interruptions(o.timeoutMs, o.signal);
    safely(() => o.onStart?.());
    const r = await Promise.race([proc.run(o.runId, o.args, o.traceparent, o.method), stop.promise]);
    if (typeof r === "string") return { ...(await interrupt(pool, proc, r, o, log, "run")), ...info };
    if (!r.ok && r.reason === "crash") log("system", errorInfo(r.error).message);
    // A user error leaves the process healthy and warm; a crash leaves nothing to keep.
    keep = r.ok || r.reason === "error";
    return { ...r, ...info };
  } finally {
    stop.dispose();
    proc.detach();
    if (keep) pool.release(proc);
    // Wait for the exit so a retry right after this finds the slot free again.
    else if (proc.alive) await pool.kill(proc, "call failed");
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
  const promise = new Promise<"timeout" | "cancelled">((resolve) => {
    if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) timer = setTimeout(() => resolve("timeout"), Math.max(0, timeoutMs));
    if (signal) {
      onAbort = () => resolve("cancelled");
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    }
  });
  return {
    promise,
    dispose() {
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
