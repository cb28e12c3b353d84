// One child runtime seen from the parent, for jobs and servings alike: spawn it through the one
// launcher, load the deployment version once, run calls by id (many at once for a serving),
// attribute its output and spans, and fail every pending call when it dies.
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import type { OperatorLocator } from "../../operator/locate.ts";
import type { RecordedSignature } from "../../schema/types.ts";
import { nowMs } from "../../trace/clock.ts";
import type { Span } from "../../trace/span.ts";
import type { ErrorCode } from "../../errors.ts";
import { spawnRuntime, type RuntimeLaunch } from "../spawn-runtime.ts";
import { compiledEntry } from "../compile/compile-version.ts";
import type { Scratch } from "../scratch.ts";
import { WORKER_CRASH, executorErrorWire } from "../../contract/run-errors.ts";
import { LineSplitter, MAX_LINE_CHARS } from "./line-splitter.ts";
import { isChildMessage, LOADER_ENV, markerPrefix, type CallOp, type ChildMessage, type Owner, type ParentMessage, type RuntimeMode, type ValueEncoding } from "./protocol.ts";
import { Outbox, unpack, type Envelope } from "./outbox.ts";
import type { SurfaceInfo } from "./surface.ts";

const RUNTIME_MAIN = fileURLToPath(new URL("./runtime-main.mjs", import.meta.url));
/** stderr lines kept for crash reports. */
const STDERR_TAIL_LINES = 20;
/** After a result (or ready) arrives, how long to wait for its end markers on stdout/stderr. */
const MARKER_WAIT_MS = 1000;
/** After the exit, how long to wait for the pipes: a grandchild (tsx's esbuild service) may hold them open. */
const PIPE_DRAIN_MS = 500;

export type LogStream = "stdout" | "stderr" | "system";

export interface RuntimeProcessOptions {
  mode: RuntimeMode;
  bundleDir: string;
  locator: OperatorLocator;
  /** Serving name (refusal messages, span attribute). */
  name?: string;
  /** Signature recorded at deploy (serving mode). */
  signature?: RecordedSignature;
  /** Serving mode: calls at once on the instance (0 = no limit) and the per-call limit (0 = none). */
  concurrency?: number;
  timeoutMs?: number;
  /** Parent for spans made while loading (the cold-start span). */
  loadTraceparent?: string;
  /** Extra environment over the allow-listed one (undefined deletes). */
  env?: Record<string, string | undefined>;
  /** Node flags for the child (default none; tsx is registered by the runtime itself). */
  execArgv?: string[];
  /** Sandbox, scratch root and workspace token (absent: unsandboxed, no token). */
  launch?: RuntimeLaunch;
}

export interface CallOptions {
  traceparent?: string;
  encoding?: ValueEncoding;
  /** This call's own output (job mode, where lines are attributed by markers). */
  onLog?: (stream: "stdout" | "stderr", line: string) => void;
  onSpans?: (spans: Span[]) => void;
  /**
   * Job mode: the child answered (the result may still wait for the call's output to drain). The
   * child starts the next call it holds right after answering, so this is when that one starts.
   */
  onAnswer?: (r: CallResult) => void;
  /** Batched calls: the outcomes of the next calls, as the child sends them while it runs the rest. */
  onProgress?: (outcomes: unknown[]) => void;
}

export type LoadOutcome = { ok: true; coldStartMs: number; loadMs: number; surface?: SurfaceInfo } | { ok: false; error: unknown; reason: "error" | "crash" };
/** `dropped`: a job call taken back (`drop`) before it started. */
export type CallResult = { ok: true; value: unknown } | { ok: false; error: unknown; reason: "error" | "crash" | "dropped"; refused?: ErrorCode };
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}
export type RuntimeState = "loading" | "ready" | "failed" | "exited";

interface StreamState {
  splitter: LineSplitter;
  /** Owner whose begin marker was the last marker seen on this stream. */
  active: number | "load" | null;
  /** Last owner whose end marker was seen. */
  ended: number | "load" | null;
}

interface Pending {
  id: number;
  opts: CallOptions;
  /** Job mode: the result is held until the call's end markers are through. */
  result?: CallResult;
  markerTimer?: NodeJS.Timeout;
  done(r: CallResult): void;
}

export class RuntimeProcess {
  readonly child: ChildProcess;
  readonly scratch: Scratch;
  readonly pid: number;
  readonly mode: RuntimeMode;
  /** Epoch ms when the process was spawned. */
  readonly spawnedAt = nowMs();
  /** Epoch ms when the child reported ready. */
  readyAt: number | undefined;
  state: RuntimeState = "loading";
  /** Why the parent is killing it, if it is. */
  killReason: string | undefined;
  exitInfo: ExitInfo | undefined;
  /** Resolves once the process has exited, its stdout/stderr are drained and what it started is gone. */
  readonly exited: Promise<ExitInfo>;
  /** Resolves when the target is built (or could not be). Never rejects. */
  readonly loaded: Promise<LoadOutcome>;
  /** Lines no call claimed (owner: the load, a call without handlers, or nobody). */
  onLog: (stream: "stdout" | "stderr", line: string, owner: Owner) => void = () => {};
  /** Spans no call claimed. */
  onSpans: (spans: Span[], owner: Owner) => void = () => {};

  private readonly pending = new Map<number, Pending>();
  private readonly outbox = new Outbox<ParentMessage>((batch) => this.write(batch));
  private seq = 0;
  private readonly stderrTail: string[] = [];
  private readonly marker: string;
  private readonly streams: Record<"stdout" | "stderr", StreamState>;
  private load: { outcome: LoadOutcome; timer: NodeJS.Timeout } | undefined;
  private settleLoad!: (o: LoadOutcome) => void;
  private readonly renewToken: RuntimeLaunch["renewToken"];
  /** Why this process loads the user's TypeScript through the loader, when its version's compile said. */
  readonly loaderWhy: string | undefined;

  constructor(o: RuntimeProcessOptions) {
    this.mode = o.mode;
    this.renewToken = o.launch?.renewToken;
    const nonce = randomBytes(9).toString("base64url");
    this.marker = markerPrefix(nonce);
    // A version its worker compiled loads as plain JavaScript: the process starts no loader.
    const entry = compiledEntry(o.bundleDir, o.locator.file);
    const compiled = entry.file;
    this.loaderWhy = "why" in entry ? entry.why : undefined;
    const spawned = spawnRuntime({
      script: RUNTIME_MAIN,
      runtime: o.mode,
      bundleDir: o.bundleDir,
      execArgv: o.execArgv,
      env: compiled ? { ...o.env, [LOADER_ENV]: "off" } : o.env,
      // Every message is JSON-safe by construction (codec wire); JSON measured faster than
      // structured clone for the small messages calls are.
      serialization: "json",
      launch: o.launch,
    });
    this.child = spawned.child;
    this.scratch = spawned.scratch;
    this.pid = this.child.pid ?? -1;
    this.loaded = new Promise((r) => (this.settleLoad = r));
    this.streams = { stdout: this.stream("stdout"), stderr: this.stream("stderr") };
    this.child.on("message", (envelope: unknown) => {
      for (const m of unpack(envelope)) if (isChildMessage(m)) this.onMessage(m);
    });
    this.exited = new Promise((resolve) => {
      // Settled once the output is in and the process's group is gone (a caller that awaits
      // `exited` may count on it); unsandboxed, descendants that left the group are ended by the
      // tag sweep, which runs on without holding this up.
      this.child.once("exit", (code, signal) => void Promise.all([this.drained(), spawned.reaped]).then(() => resolve(this.onClose({ code, signal }))));
      this.child.once("error", (err) => {
        // spawn() itself failed (no pid): there will be no "exit".
        if (this.child.pid === undefined) resolve(this.onClose({ code: null, signal: null }, err));
      });
    });
    this.send({
      type: "load",
      mode: o.mode,
      bundleDir: o.bundleDir,
      locator: compiled ? { ...o.locator, file: compiled } : o.locator,
      name: o.name,
      signature: o.signature,
      traceparent: o.loadTraceparent,
      concurrency: o.concurrency,
      timeoutMs: o.timeoutMs,
      markerNonce: nonce,
      ...(compiled ? { compiledAhead: true } : {}),
    });
  }

  get alive(): boolean {
    return this.state !== "exited" && this.killReason === undefined;
  }

  /**
   * Run one operation on the loaded target. Never rejects: a dead process answers every pending
   * call with the WorkerCrashError wire error (`reason: "crash"`).
   */
  call(op: CallOp, opts: CallOptions = {}): Promise<CallResult> {
    return this.start(op, opts).result;
  }

  /** Like `call`, with the call's id (job mode: what `drop` takes back). */
  start(op: CallOp, opts: CallOptions = {}): { id: number; result: Promise<CallResult> } {
    const id = ++this.seq;
    if (this.state !== "ready") return { id, result: Promise.resolve({ ok: false, reason: "crash", error: this.crashError("worker process is not ready") }) };
    const result = new Promise<CallResult>((resolve) => {
      const p: Pending = {
        id,
        opts,
        done: (r) => {
          if (this.pending.get(p.id) !== p) return; // settled already
          clearTimeout(p.markerTimer);
          this.pending.delete(p.id);
          resolve(r);
        },
      };
      this.pending.set(p.id, p);
      this.send({ type: "call", id: p.id, op, traceparent: opts.traceparent, encoding: opts.encoding });
    });
    return { id, result };
  }

  /** Job mode: take back call `id` if it still waits behind the running one (it then answers `dropped`). */
  drop(id: number): void {
    if (this.pending.has(id)) this.send({ type: "drop", id });
  }

  /** Calls sent and not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process is gone. */
  kill(reason: string, graceMs = 500): Promise<ExitInfo> {
    this.killReason ??= reason;
    if (this.state !== "exited") {
      if (this.child.connected) this.child.disconnect();
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
    this.outbox.push(msg);
    // A job process gets one call at a time: nothing would join it in the batch, and waiting for
    // the end of the event-loop turn only delays the call.
    if (this.mode === "job") this.outbox.flush();
  }

  private write(batch: Envelope<ParentMessage>): void {
    if (!this.child.connected) return; // gone or going: the exit fails whatever is pending
    this.child.send(batch, (err) => {
      // The channel closed under us: the exit handler reports the crash.
      if (err && this.state !== "exited") this.child.kill("SIGKILL");
    });
  }

  private stream(name: "stdout" | "stderr"): StreamState {
    const st: StreamState = { active: null, ended: null, splitter: new LineSplitter((line) => this.onLine(name, st, line), MAX_LINE_CHARS) };
    const s = this.child[name]!;
    s.setEncoding("utf8");
    s.on("data", (chunk: string) => st.splitter.push(chunk));
    s.on("end", () => st.splitter.end());
    return st;
  }

  /** Wait (briefly) until stdout and stderr are closed, so the last lines are in; then let go of them. */
  private async drained(): Promise<void> {
    const pipes = [this.child.stdout!, this.child.stderr!];
    const open = pipes.filter((p) => !p.closed).map((p) => new Promise((r) => p.once("close", r)));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(open), new Promise((r) => (timer = setTimeout(r, PIPE_DRAIN_MS)))]);
    clearTimeout(timer);
    for (const p of pipes) if (!p.closed) p.destroy();
    for (const st of Object.values(this.streams)) st.splitter.end();
  }

  private onLine(name: "stdout" | "stderr", st: StreamState, line: string): void {
    const at = line.indexOf(this.marker);
    if (at < 0) return this.deliver(name, st, line);
    // An unterminated user line runs into the marker: it is still the user's line.
    if (at > 0) this.deliver(name, st, line.slice(0, at));
    const rest = line.slice(at + this.marker.length);
    const sep = rest.indexOf(":");
    const kind = rest.slice(0, sep);
    const owner = rest.slice(sep + 1) === "load" ? "load" : Number(rest.slice(sep + 1));
    if (kind === "begin") st.active = owner;
    else if (kind === "end") {
      st.active = null;
      st.ended = owner;
      this.markersThrough(owner);
    }
  }

  private deliver(name: "stdout" | "stderr", st: StreamState, line: string): void {
    if (name === "stderr") {
      this.stderrTail.push(line);
      if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
    }
    // Unmarked lines before the load's own markers (node's warnings) belong to the load too; in job
    // mode, unmarked lines while one call is in flight are that call's (a quiet call has no markers,
    // and output its child could not watch may still come).
    const owner = st.active ?? (this.state === "loading" ? "load" : this.mode === "job" ? this.runningJobCall() : null);
    const own = typeof owner === "number" ? this.pending.get(owner)?.opts.onLog : undefined;
    if (own) own(name, line);
    else this.onLog(name, line, owner);
  }

  private onMessage(m: ChildMessage): void {
    switch (m.type) {
      case "ready":
        this.holdLoad({ ok: true, coldStartMs: m.coldStartMs, loadMs: m.loadMs, surface: m.surface });
        break;
      case "load-failed":
        this.holdLoad({ ok: false, reason: "error", error: m.error });
        break;
      case "spans": {
        const own = typeof m.owner === "number" ? this.pending.get(m.owner)?.opts.onSpans : undefined;
        if (own) own(m.spans);
        else this.onSpans(m.spans, m.owner);
        break;
      }
      case "result": {
        const p = this.pending.get(m.id);
        if (!p) break;
        const r: CallResult = m.ok ? { ok: true, value: m.value } : { ok: false, reason: m.dropped ? "dropped" : "error", error: m.error, ...(m.refused ? { refused: m.refused } : {}) };
        p.opts.onAnswer?.(r);
        if (this.mode !== "job" || !m.marked) return p.done(r);
        // Lines the call printed may still be in the pipes: wait for its end markers (briefly).
        p.result = r;
        p.markerTimer = setTimeout(() => p.done(r), MARKER_WAIT_MS);
        this.markersThrough(p.id);
        break;
      }
      case "progress":
        this.pending.get(m.id)?.opts.onProgress?.(m.outcomes);
        break;
      case "token-renew":
        void this.answerTokenRenew();
        break;
    }
  }

  /** The process's token was refused: hand it the workspace's token now (one question at a time). */
  private renewing: Promise<void> | undefined;
  private answerTokenRenew(): Promise<void> {
    return (this.renewing ??= (async () => {
      let why: string | undefined;
      const token = await (this.renewToken?.() ?? Promise.resolve(undefined)).catch((err: unknown) => {
        why = err instanceof Error ? err.message : String(err);
        return undefined;
      });
      this.send({ type: "token", token: token ?? null, ...(token ? {} : why ? { why } : {}) });
      this.outbox.flush();
    })().finally(() => (this.renewing = undefined)));
  }

  /**
   * Job mode: the call running now — the oldest whose result has not arrived (the child runs them
   * one at a time in the order sent; a call sent behind it has not started), else the one still
   * waiting for its end markers. null when no call is in flight.
   */
  private runningJobCall(): number | null {
    let answered: number | null = null;
    for (const p of this.pending.values()) {
      if (!p.result) return p.id;
      answered ??= p.id;
    }
    return answered;
  }

  /** The load's outcome waits for the load's end markers, so its lines are in (crash reports, cold-start logs). */
  private holdLoad(outcome: LoadOutcome): void {
    if (this.load || this.state !== "loading") return;
    this.load = { outcome, timer: setTimeout(() => this.finishLoad(), MARKER_WAIT_MS) };
    this.markersThrough("load");
  }

  private finishLoad(): void {
    const load = this.load;
    if (!load || this.state !== "loading") return;
    clearTimeout(load.timer);
    if (load.outcome.ok) {
      this.state = "ready";
      this.readyAt = nowMs();
    } else this.state = "failed";
    this.settleLoad(load.outcome);
  }

  private markersThrough(owner: number | "load"): void {
    if (this.streams.stdout.ended !== owner || this.streams.stderr.ended !== owner) return;
    if (owner === "load") return this.finishLoad();
    const p = this.pending.get(owner);
    if (p?.result) p.done(p.result);
  }

  private onClose(info: ExitInfo, spawnError?: Error): ExitInfo {
    this.exitInfo = info;
    const wasLoading = this.state === "loading";
    if (wasLoading && this.load) this.finishLoad(); // its answer arrived; only the markers were missing
    const stillLoading = this.state === "loading";
    this.state = "exited";
    clearTimeout(this.load?.timer);
    const error = this.crashError(spawnError ? `worker process failed to start: ${spawnError.message}` : describeExit(info));
    if (stillLoading) this.settleLoad({ ok: false, reason: "crash", error });
    for (const p of [...this.pending.values()]) p.done(p.result ?? { ok: false, reason: "crash", error });
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
