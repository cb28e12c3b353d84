// One forked worker child (runtime-main.mjs) seen from the parent: load once, run calls one at a
// time, attribute its stdout/stderr lines and spans to the call that produced them, and report
// how it ended. Scheduling (which call gets which process) is the pool's job, not this file's.
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import type { OperatorLocator } from "../../operator/locate.ts";
import { nowMs } from "../../trace/clock.ts";
import type { Span } from "../../trace/span.ts";
import { WORKER_CRASH, executorErrorWire } from "./errors.ts";
import { LineSplitter, MAX_LINE_CHARS } from "./line-splitter.ts";
import { MARKER_ENV, isChildMessage, markerPrefix, type ChildMessage, type ParentMessage } from "./protocol.ts";
import { spawnRuntime, type RuntimeLaunch } from "../../worker/spawn-runtime.ts";

const RUNTIME_MAIN = fileURLToPath(new URL("./runtime-main.mjs", import.meta.url));
/** stderr lines kept for crash reports. */
const STDERR_TAIL_LINES = 20;
/** After a result arrives, how long to wait for the end-of-run markers on stdout/stderr. */
const MARKER_WAIT_MS = 1000;

export type LogStream = "stdout" | "stderr" | "system";

/** What a process is forked with; `key` (the deployment version) says which processes are interchangeable. */
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

export type LoadOutcome = { ok: true; coldStartMs: number; loadMs: number } | { ok: false; error: unknown; reason: "error" | "crash" };
export type RunOutcome = { ok: true; value: unknown } | { ok: false; error: unknown; reason: "error" | "crash" };
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export type WorkerState = "loading" | "ready" | "failed" | "exited";

interface StreamState {
  splitter: LineSplitter;
  /** Run whose begin marker was the last marker seen on this stream. */
  activeRun: string | null;
  /** Last run whose end marker was seen. */
  endedRun: string | null;
}

interface PendingRun {
  runId: string;
  result?: RunOutcome;
  done: (o: RunOutcome) => void;
  markerTimer?: NodeJS.Timeout;
}

export class WorkerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Epoch ms when fork() was called. */
  readonly spawnedAt = nowMs();
  /** Epoch ms when the child reported ready. */
  readyAt: number | undefined;
  state: WorkerState = "loading";
  /** Finished calls (successful or not). */
  runs = 0;
  /** Why the parent is killing it, if it is. */
  killReason: string | undefined;
  /** Resolves once the process has exited and its stdout/stderr are drained. */
  readonly exited: Promise<ExitInfo>;
  /** Resolves when the operator is built (or could not be). Never rejects. */
  readonly loaded: Promise<LoadOutcome>;
  /** Lines printed outside any call (between calls, after a crash report…). */
  onStrayLog: ((stream: LogStream, line: string) => void) | undefined;

  private handlers: CallHandlers | undefined;
  private pending: PendingRun | undefined;
  private readonly stderrTail: string[] = [];
  private readonly marker: string;
  private readonly streams: Record<"stdout" | "stderr", StreamState>;
  private exitInfo: ExitInfo | undefined;
  private settleLoad!: (o: LoadOutcome) => void;

  constructor(
    readonly key: string,
    readonly spawn: SpawnInfo,
  ) {
    const nonce = randomBytes(9).toString("base64url");
    this.marker = markerPrefix(nonce);
    this.child = spawnRuntime({
      script: RUNTIME_MAIN,
      runtime: "job",
      bundleDir: spawn.bundleDir,
      execArgv: spawn.execArgv,
      env: { ...spawn.env, [MARKER_ENV]: nonce },
      serialization: "advanced",
      launch: spawn.launch,
    }).child;
    this.pid = this.child.pid ?? -1;
    this.loaded = new Promise((r) => (this.settleLoad = r));
    this.streams = { stdout: this.stream("stdout"), stderr: this.stream("stderr") };
    this.child.on("message", (m: unknown) => isChildMessage(m) && this.onMessage(m));
    this.exited = new Promise((resolve) => {
      // "close", not "exit": it fires after stdout/stderr are drained, so crash reports carry the last lines.
      this.child.once("close", (code, signal) => resolve(this.onClose({ code, signal })));
      this.child.once("error", (err) => {
        // fork() itself failed (no pid): there will be no "close".
        if (this.child.pid === undefined) resolve(this.onClose({ code: null, signal: null }, err));
      });
    });
    this.send({ type: "load", bundleDir: spawn.bundleDir, locator: spawn.locator, traceparent: spawn.loadTraceparent });
  }

  get alive(): boolean {
    return this.state !== "exited" && this.killReason === undefined;
  }

  /** Route this process's logs and spans to one caller until `detach()`. */
  attach(handlers: CallHandlers): void {
    this.handlers = handlers;
  }

  detach(): void {
    this.handlers = undefined;
  }

  /** Run one call. The caller must wait for it before the next (the pool guarantees this). */
  run(runId: string, args: unknown[], traceparent?: string, method?: string): Promise<RunOutcome> {
    if (this.pending) throw new Error(`worker ${this.pid} is already running ${this.pending.runId}`);
    if (this.state !== "ready") {
      return Promise.resolve({ ok: false, reason: "crash", error: this.crashError("worker process is not ready") });
    }
    return new Promise<RunOutcome>((done) => {
      const p: PendingRun = {
        runId,
        done: (o) => {
          if (this.pending !== p) return; // already settled
          clearTimeout(p.markerTimer);
          this.pending = undefined;
          this.runs++;
          done(o);
        },
      };
      this.pending = p;
      this.send({ type: "run", runId, args, traceparent, method });
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process is gone. */
  kill(reason: string, graceMs = 500): Promise<ExitInfo> {
    this.killReason ??= reason;
    if (this.state !== "exited") {
      this.child.kill("SIGTERM");
      const t = setTimeout(() => this.state !== "exited" && this.child.kill("SIGKILL"), graceMs);
      t.unref();
      void this.exited.then(() => clearTimeout(t));
    }
    return this.exited;
  }

  /** Last stderr lines (for crash reports). */
  tail(): string {
    return this.stderrTail.join("\n");
  }

  private send(msg: ParentMessage): void {
    if (!this.child.connected) return;
    this.child.send(msg, (err) => {
      // The channel closed under us: the "close" handler reports the crash.
      if (err && this.state !== "exited") this.child.kill("SIGKILL");
    });
  }

  private stream(name: "stdout" | "stderr"): StreamState {
    const st: StreamState = { activeRun: null, endedRun: null, splitter: new LineSplitter((line) => this.onLine(name, st, line), MAX_LINE_CHARS) };
    const s = this.child[name]!;
    s.setEncoding("utf8");
    s.on("data", (chunk: string) => st.splitter.push(chunk));
    s.on("end", () => st.splitter.end());
    return st;
  }

  private onLine(name: "stdout" | "stderr", st: StreamState, line: string): void {
    const at = line.indexOf(this.marker);
    if (at < 0) return this.deliver(name, st, line);
    // An unterminated user line runs into the marker: it is still the user's line.
    if (at > 0) this.deliver(name, st, line.slice(0, at));
    const [kind, runId = ""] = splitOnce(line.slice(at + this.marker.length), ":");
    if (kind === "begin") st.activeRun = runId;
    else if (kind === "end") {
      st.activeRun = null;
      st.endedRun = runId;
      this.maybeFinish();
    }
  }

  private deliver(name: "stdout" | "stderr", st: StreamState, line: string): void {
    if (name === "stderr") {
      this.stderrTail.push(line);
      if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
    }
    const mine = st.activeRun !== null ? this.pending?.runId === st.activeRun : this.state === "loading";
    if (mine && this.handlers) this.handlers.onLog(name, line);
    else this.onStrayLog?.(name, line);
  }

  private onMessage(m: ChildMessage): void {
    switch (m.type) {
      case "ready":
        this.state = "ready";
        this.readyAt = nowMs();
        this.settleLoad({ ok: true, coldStartMs: m.coldStartMs, loadMs: m.loadMs });
        break;
      case "load-failed":
        this.state = "failed";
        this.settleLoad({ ok: false, reason: "error", error: m.error });
        break;
      case "span":
        if (m.runId === null ? this.state === "loading" : m.runId === this.pending?.runId) this.handlers?.onSpan(m.span);
        break;
      case "result": {
        const p = this.pending;
        if (!p || p.runId !== m.runId) break;
        p.result = m.ok ? { ok: true, value: m.value } : { ok: false, reason: "error", error: m.error };
        // Lines the run printed may still be in the pipes: wait for its end markers (briefly).
        p.markerTimer = setTimeout(() => p.done(p.result!), MARKER_WAIT_MS);
        this.maybeFinish();
        break;
      }
    }
  }

  private maybeFinish(): void {
    const p = this.pending;
    if (!p?.result) return;
    if (this.streams.stdout.endedRun === p.runId && this.streams.stderr.endedRun === p.runId) p.done(p.result);
  }

  private onClose(info: ExitInfo, spawnError?: Error): ExitInfo {
    this.exitInfo = info;
    const wasLoading = this.state === "loading";
    this.state = "exited";
    const error = this.crashError(spawnError ? `worker process failed to start: ${spawnError.message}` : describeExit(info));
    if (wasLoading) this.settleLoad({ ok: false, reason: "crash", error });
    const p = this.pending;
    if (p) p.done(p.result ?? { ok: false, reason: "crash", error });
    return info;
  }

  private crashError(message: string): unknown {
    const tail = this.tail();
    return executorErrorWire(WORKER_CRASH, tail ? `${message}\n--- stderr tail ---\n${tail}` : message, {
      exitCode: this.exitInfo?.code ?? null,
      signal: this.exitInfo?.signal ?? null,
    });
  }
}

function describeExit({ code, signal }: ExitInfo): string {
  return signal ? `worker process was killed by ${signal}` : `worker process exited with code ${code}`;
}

function splitOnce(s: string, sep: string): [string, string?] {
  const i = s.indexOf(sep);
  return i < 0 ? [s] : [s.slice(0, i), s.slice(i + 1)];
}
