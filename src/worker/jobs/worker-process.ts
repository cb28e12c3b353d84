// A child runtime in job mode, as the process pool and executeCall see it: one deployment version
// (`key`), one call running at a time and a few more sent ahead to wait behind it (so each
// starts the moment the one ahead of it ends, without a round trip to this process), each call's
// output and spans routed to its own caller. Scheduling (which call gets which process) is the
// pool's job, not this file's.
import type { OperatorLocator } from "../../operator/locate.ts";
import type { Span } from "../../trace/span.ts";
import type { RuntimeLaunch } from "../spawn-runtime.ts";
import { RuntimeProcess, type CallResult, type LogStream } from "../runtime/runtime-process.ts";
import { MAX_CALLS_BEHIND } from "../prefetch.ts";

/** How many ended calls' runs a process remembers for their late output (a call's timers rarely outlive many later calls). */
const ENDED_CALLS_KEPT = 64;

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
  /** Batched calls: outcomes of the next calls, as they come. */
  onProgress?(outcomes: unknown[]): void;
}

export type RunOutcome = { ok: true; value: unknown } | { ok: false; error: unknown; reason: "error" | "crash" | "dropped" };

/** One call handed to the process. */
export interface JobCall {
  /**
   * Whether user code for it started: at once on a process with no call in flight, when the call
   * ahead ends otherwise; false when it never will (taken back, or the process is gone).
   */
  started: Promise<boolean>;
  /** Sent behind a call in flight (not started at once). */
  waiting: boolean;
  outcome: Promise<RunOutcome>;
  /** Take the call back while it still waits behind another (it then ends `dropped`); no effect once started. */
  drop(): void;
  /** Whether `drop` was asked (a `dropped` answer is believed only then: user code cannot fake one). */
  readonly dropAsked: boolean;
}

interface SentCall {
  runId: string;
  started: boolean;
  /** The child answered it (its output may still be draining): the child has moved on to the next. */
  answered: boolean;
  begin(started: boolean): void;
}

export class WorkerProcess extends RuntimeProcess {
  /** Finished calls (successful or not). */
  runs = 0;
  /**
   * Lines no call in flight claimed: printed by an ended call's async context (a timer it left behind,
   * a logger flushing after it returned) — `runId` is that call's run — or outside any call's
   * context, with `runId` the run whose call this process ran last.
   */
  onStrayLog: ((stream: LogStream, line: string, runId: string | undefined) => void) | undefined;
  /** A call was handed over (the pool may now send one behind it). */
  onCallSent: (() => void) | undefined;
  /** The run whose call this process ran last: where its stray lines most likely come from. */
  lastRunId: string | undefined;
  private handlers: CallHandlers | undefined;
  /** Runs of the calls that ended last, by call id: where an ended call's late output goes. */
  private readonly endedCalls = new Map<number, string>();
  /** Calls sent and not ended, in the order sent: the first is running (or about to), a second waits. */
  private readonly calls: SentCall[] = [];

  constructor(
    readonly key: string,
    readonly spawn: SpawnInfo,
  ) {
    super({ mode: "job", ...spawn });
    // Output of the load goes to whoever waits for it (the cold-starting call); the rest is stray.
    this.onLog = (stream, line, owner) => {
      if (owner === "load" && this.handlers) this.handlers.onLog(stream, line);
      else this.onStrayLog?.(stream, line, (typeof owner === "number" ? this.endedCalls.get(owner) : undefined) ?? this.lastRunId);
    };
    this.onSpans = (spans, owner) => {
      if (owner === "load") for (const s of spans) this.handlers?.onSpan(s);
    };
  }

  /** Route the load's logs and spans (a cold start's) to one caller until `detach()`. */
  attach(handlers: CallHandlers): void {
    this.handlers = handlers;
  }

  detach(): void {
    this.handlers = undefined;
  }

  /** Calls sent and not ended: the first running, the others waiting behind it (the pool bounds them). */
  get callsInFlight(): number {
    return this.calls.length;
  }

  /** A call no longer in the line (ended, or taken back before it started). */
  private forget(call: SentCall): void {
    const i = this.calls.indexOf(call);
    if (i >= 0) this.calls.splice(i, 1);
  }

  /**
   * Hand over one call: it runs now, or right after the one in flight. `batched`: `args` lists the
   * argument lists of a batched run's calls, run one by one; its value lists their outcomes.
   */
  run(runId: string, args: unknown[], handlers: CallHandlers, traceparent?: string, method?: string, batched = false): JobCall {
    if (this.calls.length > MAX_CALLS_BEHIND) throw new Error(`worker ${this.pid} already has ${MAX_CALLS_BEHIND} calls waiting behind ${this.calls[0]!.runId}`);
    let resolveStarted!: (started: boolean) => void;
    const started = new Promise<boolean>((r) => (resolveStarted = r));
    let decided = false;
    const sent: SentCall = {
      runId,
      started: false,
      answered: false,
      begin(s) {
        if (decided) return;
        decided = true;
        sent.started = s;
        resolveStarted(s);
      },
    };
    // The call behind this one starts when the child answers this one (it answers, then starts the
    // next), not when this one's output has drained: a quiet call behind a chatty one can end first.
    const startNext = (alive: boolean) => {
      const next = this.calls[this.calls.indexOf(sent) + 1];
      if (sent.started && next) next.begin(alive);
    };
    this.calls.push(sent);
    // Every call ahead of it has answered (one may still be draining its output): the child runs it now.
    if (this.calls.every((c) => c === sent || c.answered)) sent.begin(true);
    const { id, result } = this.start(
      { ...(batched ? { kind: "calls" as const, calls: args as unknown[][] } : { kind: "job" as const, args }), ...(method !== undefined ? { method } : {}) },
      {
        traceparent,
        onAnswer: (r) => {
          sent.answered = true;
          // Taken back before it started: out of the line at once. The answer of the call ahead of it
          // may come in the same read, before this call's outcome is handled: it must start the call
          // behind this one, not this one.
          if (!r.ok && r.reason === "dropped" && !sent.started) {
            sent.begin(false);
            this.forget(sent);
            return;
          }
          // An answer means it ran, whatever its place; then the one behind it starts.
          sent.begin(true);
          startNext(true);
        },
        onLog: (stream, line) => handlers.onLog(stream, line),
        onSpans: (spans) => {
          for (const s of spans) handlers.onSpan(s);
        },
        onProgress: (outcomes) => handlers.onProgress?.(outcomes),
      },
    );
    const outcome = result.then((r): RunOutcome => {
      // Ended without an answer (the process died or was killed first): the one behind never starts.
      if (!sent.answered) startNext(false);
      sent.begin(false);
      this.forget(sent);
      if (sent.started) {
        this.lastRunId = runId;
        this.runs++;
        this.endedCalls.set(id, runId);
        if (this.endedCalls.size > ENDED_CALLS_KEPT) this.endedCalls.delete(this.endedCalls.keys().next().value!);
      }
      return r.ok ? r : { ok: false, reason: r.reason, error: r.error };
    });
    this.onCallSent?.();
    let dropAsked = false;
    return {
      started,
      waiting: !sent.started,
      outcome,
      get dropAsked() {
        return dropAsked;
      },
      drop: () => {
        dropAsked = true;
        this.drop(id);
      },
    };
  }
}
