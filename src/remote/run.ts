import { fromWire } from "../codec/index.ts";
import { NboxError, type ErrorCode } from "../errors.ts";
import type { Span } from "../trace/span.ts";
import type { PlatformClient } from "./client.ts";
import { WORKER_CRASH } from "../contract/run-errors.ts";
import { RemoteError } from "./remote-error.ts";
import { TERMINAL_STATUSES, type RunInfo, type RunStatus } from "./types.ts";

export interface LogLine {
  seq: number;
  stream: "stdout" | "stderr" | "system";
  line: string;
  ts: string;
}

// Each wait is a server-side long-poll; the server answers at the latest after this.
const WAIT_SLICE_MS = 25_000;
// How long cancel() waits for the worker to stop the run by default.
const CANCEL_TIMEOUT_MS = 30_000;

/** Handle on one run: the run id is the only correlation (never "the last run"). */
export class Run<T = unknown> {
  constructor(
    private readonly client: PlatformClient,
    readonly id: string,
  ) {}

  info(): Promise<RunInfo> {
    return this.client.call("GET /runs/{id}", { params: { id: this.id } }).then((r) => r.run);
  }

  async status(): Promise<RunStatus> {
    return (await this.info()).status;
  }

  /** Wait until the run ends (long-poll, no fixed sleeps); resolve its result or reject with a RemoteError. */
  async result(opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new NboxError("TIMEOUT", `run ${this.id} did not finish within ${opts.timeoutMs} ms`);
      const slice = Math.min(WAIT_SLICE_MS, left);
      const { run } = await this.client.call("GET /runs/{id}/wait", { params: { id: this.id }, query: { timeoutMs: Math.round(slice), withArgs: "false" }, signal: opts.signal });
      if (TERMINAL_STATUSES.includes(run.status)) return outcome<T>(run);
    }
  }

  async logs(opts: { afterSeq?: number } = {}): Promise<LogLine[]> {
    return (await this.client.call("GET /runs/{id}/logs", { params: { id: this.id }, query: { after: opts.afterSeq } })).logs;
  }

  /** Log lines as they arrive, until the run ends. */
  async *followLogs(signal?: AbortSignal): AsyncGenerator<LogLine> {
    let after = -1;
    for (;;) {
      const { logs, done } = await this.client.call("GET /runs/{id}/logs", { params: { id: this.id }, query: { after, follow: "1" }, signal });
      for (const l of logs) {
        after = l.seq;
        yield l;
      }
      if (done && logs.length === 0) return;
    }
  }

  /**
   * Cancel the run and wait until it has stopped: resolves with its final status (`cancelled`, or how
   * it ended if it finished first). Rejects with a TIMEOUT NboxError if it is still going after `timeoutMs`.
   */
  async cancel(opts: { timeoutMs?: number } = {}): Promise<RunStatus> {
    const timeoutMs = opts.timeoutMs ?? CANCEL_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const slice = () => Math.max(1, Math.round(Math.min(WAIT_SLICE_MS, deadline - Date.now())));
    let { run } = await this.client.call("POST /runs/{id}/cancel", { params: { id: this.id }, query: { timeoutMs: slice(), withArgs: "false" } });
    while (!TERMINAL_STATUSES.includes(run.status) && Date.now() < deadline) {
      ({ run } = await this.client.call("GET /runs/{id}/wait", { params: { id: this.id }, query: { timeoutMs: slice(), withArgs: "false" } }));
    }
    if (TERMINAL_STATUSES.includes(run.status)) return run.status;
    throw new NboxError(
      "TIMEOUT",
      `run ${this.id} was asked to cancel but is still ${run.status} after ${timeoutMs} ms`,
      "Its worker did not stop it: check the worker (`nbx logs " + this.id + "`); the platform still cancels it once the worker reports back",
    );
  }

  async spans(): Promise<Span[]> {
    return (await this.client.call("GET /runs/{id}/spans", { params: { id: this.id } })).spans;
  }

  /**
   * Run the same deployment version again with the same arguments (e.g. a failed map item). Of a
   * batched run (several map items in one run), `call` runs only that one again, as a run of its
   * own: a settled map item names both (`runId`, `call`).
   */
  async retry(opts: { call?: number } = {}): Promise<Run<T>> {
    const { run } = await this.client.call("POST /runs/{id}/retry", { params: { id: this.id }, body: opts.call !== undefined ? { call: opts.call } : {} });
    return new Run<T>(this.client, run.id);
  }
}

/** What each way a run can fail stands for: the run's status says it, not the error's name. */
function failureCode(run: RunInfo): ErrorCode {
  if (run.status === "cancelled") return "CANCELLED";
  if (run.status === "timed_out") return "TIMEOUT";
  return run.error?.name === WORKER_CRASH ? "WORKER_CRASHED" : "USER_CODE";
}

/**
 * Result of a finished run, or the rebuilt remote error: RunCancelledError, RunTimeoutError,
 * WorkerCrashError, or a RemoteError carrying the user's error (code USER_CODE).
 */
export function outcome<T>(run: RunInfo): T {
  if (run.status === "succeeded") return fromWire(run.result) as T;
  const err = run.error ?? { name: "Error", message: `run ended ${run.status}` };
  throw RemoteError.from({ ...err, code: failureCode(run) }, { runId: run.id });
}
