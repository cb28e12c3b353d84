// A child runtime in job mode, as the process pool and executeCall see it: one deployment version
// (`key`), one call at a time, its output and spans routed to the caller attached to it.
// Scheduling (which call gets which process) is the pool's job, not this file's.
import type { OperatorLocator } from "../../operator/locate.ts";
import type { Span } from "../../trace/span.ts";
import type { RuntimeLaunch } from "../spawn-runtime.ts";
import { RuntimeProcess, type CallResult, type LogStream } from "../runtime/runtime-process.ts";

export type { LogStream, ExitInfo, LoadOutcome, RuntimeState as WorkerState } from "../runtime/runtime-process.ts";

/** What a process is started with; `key` (the deployment version) says which processes are interchangeable. */
export interface SpawnInfo {
  bundleDir: string;
  locator: OperatorLocator;
  /** Extra environment over the allow-listed one (undefined deletes). */
  env?: Record<string, string | undefined>;
  /** Sandbox, scratch root and workspace token (absent: unsandboxed, no token). */
  launch?: RuntimeLaunch;
  /** Node flags for the child (default none; tsx is registered by the runtime itself). */
  execArgv?: string[];
  /** Parent span for spans made while loading (the cold-start span). */
  loadTraceparent?: string;
}

export interface CallHandlers {
  onLog(stream: LogStream, line: string): void;
  onSpan(span: Span): void;
}

export type RunOutcome = { ok: true; value: unknown } | { ok: false; error: unknown; reason: "error" | "crash" };

export class WorkerProcess extends RuntimeProcess {
  /** Finished calls (successful or not). */
  runs = 0;
  /** Lines printed outside any call (a timer a call left behind, a logger flushing after it returned…). */
  onStrayLog: ((stream: LogStream, line: string) => void) | undefined;
  /** The run whose call this process ran last: where its stray lines most likely come from. */
  lastRunId: string | undefined;
  private handlers: CallHandlers | undefined;
  /** Run in flight, if any. */
  private running: string | undefined;

  constructor(
    readonly key: string,
    readonly spawn: SpawnInfo,
  ) {
    super({ mode: "job", ...spawn });
    // Output of the load goes to whoever waits for it (the cold-starting call); the rest is stray.
    this.onLog = (stream, line, owner) => {
      if (owner === "load" && this.handlers) this.handlers.onLog(stream, line);
      else this.onStrayLog?.(stream, line);
    };
    this.onSpans = (spans, owner) => {
      if (owner === "load") for (const s of spans) this.handlers?.onSpan(s);
    };
  }

  /** Route this process's logs and spans to one caller until `detach()`. */
  attach(handlers: CallHandlers): void {
    this.handlers = handlers;
  }

  detach(): void {
    this.handlers = undefined;
  }

  /** Run one call. The caller must wait for it before the next (the pool guarantees this). */
  async run(runId: string, args: unknown[], traceparent?: string, method?: string): Promise<RunOutcome> {
    if (this.running !== undefined) throw new Error(`worker ${this.pid} is already running ${this.running}`);
    this.running = runId;
    try {
      const r: CallResult = await this.call(
        { kind: "job", args, ...(method !== undefined ? { method } : {}) },
        {
          traceparent,
          onLog: (stream, line) => (this.handlers ? this.handlers.onLog(stream, line) : this.onStrayLog?.(stream, line)),
          onSpans: (spans) => {
            for (const s of spans) this.handlers?.onSpan(s);
          },
        },
      );
      return r.ok ? r : { ok: false, reason: r.reason, error: r.error };
    } finally {
      this.running = undefined;
      this.lastRunId = runId;
      this.runs++;
    }
  }
}
