// The child runtime, one per user process (job worker or serving): builds one deployment version
// when the parent says `load` (import → construct with `init` → `remoteInit`), reports its surface,
// then runs calls by id over IPC (see protocol.ts). Started through runtime-main.mjs, which
// installs tsx's ESM hooks before any message is handled (its require hooks, for CommonJS
// projects, come with `load`).
import { AsyncLocalStorage } from "node:async_hooks";
import path from "node:path";
import { useCommonJsLoaderFor } from "./commonjs-loader.ts";
import { performance } from "node:perf_hooks";
import { relativeSpanStack } from "../../codec/stack-paths.ts";
import { isOperator } from "../../operator/brand.ts";
import { materialize } from "../../operator/materialize.ts";
import { getTracer } from "../../trace/tracer.ts";
import type { Span } from "../../trace/span.ts";
import { isParentMessage, markerPrefix, parentToWatch, PROGRESS_MS, WATCH_PARENT_ENV, type CallMessage, type CallOp, type ChildMessage, type LoadMessage, type Owner, type RuntimeMode } from "./protocol.ts";
import { Outbox, unpack, type Envelope } from "./outbox.ts";
import { describeSurface, surfaceOf } from "./surface.ts";
import { LoadedTarget } from "./target.ts";
import { errorWire, refusalOf } from "./values.ts";
import { rawWriters, watchOutput } from "./output-watch.ts";
import { watchParent } from "./parent-watch.ts";
import { PROCESS_TAG_ENV } from "../process-tag.ts";
import { setRuntimeTokenRenewer } from "../../runtime-context.ts";

/** How long a request refused for its token waits for the worker's answer before failing as it was. */
const TOKEN_RENEW_WAIT_MS = 15_000;

// Spans travel in small batches: one IPC message per span would cost a busy serving more than the spans.
const SPAN_FLUSH_MS = 100;
const SPAN_BATCH = 500;

/** Set by `load`, before any user code runs (user code must not learn it: it could fake markers). */
let marker = markerPrefix("none");
const tracer = getTracer();

let mode: RuntimeMode = "job";
let target: LoadedTarget | undefined;
/** The loaded bundle's folder: stacks sent to the parent name paths relative to it. */
let bundleRoot: string | undefined;
let loading = false;
let loaded: Promise<void> = new Promise(() => {}); // no call runs before `load`
/** Job mode: the call running now; its spans and stray errors are its own. `marked`: its begin markers went out. */
let current: { id: number; fail: (err: unknown) => void; marked: boolean } | null = null;
/**
 * Job mode: the call whose async context code runs in. Output a call's timers print after it
 * returned, while no other call runs, is still that call's. While a call runs, all output is its
 * own: a logger or piped subprocess set up in a process's first call writes from that call's
 * context for good, so the context cannot tell whose line it is then.
 */
const callContext = new AsyncLocalStorage<number>();
/** The call whose begin markers went out last and whose frame is still open (null: none is). */
let framed: number | null = null;

/** One message, or a batch that failed as a whole (a span JSON cannot carry): each on its own. */
function write(batch: Envelope<ChildMessage>): void {
  if (!process.connected) return;
  try {
    process.send!(batch);
  } catch {
    for (const msg of Array.isArray(batch) ? batch : [batch]) {
      try {
        process.send!(msg);
      } catch {
        // A span attribute JSON cannot carry (a bigint, a cycle): send a sanitised copy.
        if (msg.type !== "spans") continue;
        try {
          process.send!({ ...msg, spans: JSON.parse(safeJson(msg.spans)) as Span[] });
        } catch {
          // Drop the spans rather than the process.
        }
      }
    }
  }
}
const outbox = new Outbox<ChildMessage>(write);
const send = (msg: ChildMessage) => outbox.push(msg);

/** JSON text of `v`: bigints as strings, an object seen before (a cycle) cut. */
function safeJson(v: unknown): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === "bigint") return String(x);
    if (x !== null && typeof x === "object") {
      if (seen.has(x)) return "[cycle]";
      seen.add(x);
    }
    return x;
  });
}

let spans: Span[] = [];
let spansOwner: Owner = null;
let flushTimer: NodeJS.Timeout | undefined;
function flushSpans(): void {
  clearTimeout(flushTimer);
  flushTimer = undefined;
  if (spans.length === 0) return;
  const batch = spans;
  spans = [];
  send({ type: "spans", owner: spansOwner, spans: batch });
}
tracer.addSink({
  push(span) {
    relativeSpanStack(span, bundleRoot);
    const owner: Owner = loading ? "load" : (current?.id ?? null);
    if (spans.length > 0 && owner !== spansOwner) flushSpans();
    spansOwner = owner;
    spans.push(span);
    if (spans.length >= SPAN_BATCH) flushSpans();
    else flushTimer ??= setTimeout(flushSpans, SPAN_FLUSH_MS);
  },
});

// A job call's begin markers go out just before its first output (see output-watch.ts): a call that
// prints nothing has no markers, and its result needs no wait for them. Once user code took a way to
// stdout/stderr that cannot be watched, every call is framed from its start.
let frameEveryCall = false;
function frameOutput(): void {
  const owner = current?.id ?? callContext.getStore();
  if (owner === undefined || owner === framed) return;
  writeMarker("begin", owner);
  framed = owner;
  if (current?.id === owner) current.marked = true;
}
/** Close the open frame, if any (a frame of the ending call closes whatever frame is open). */
function closeFrame(owner: number | null = framed): void {
  if (owner !== null) writeMarker("end", owner);
  framed = null;
}
const outputHooks = {
  output: frameOutput,
  unwatchable() {
    frameEveryCall = true;
    frameOutput();
  },
};

function writeMarker(kind: "begin" | "end", owner: number | "load"): void {
  // Synchronous on Linux pipes; order within each stream is what matters.
  rawWriters.stdout(`${marker}${kind}:${owner}\n`);
  rawWriters.stderr(`${marker}${kind}:${owner}\n`);
}

const wire = (err: unknown) => errorWire(err, mode, bundleRoot);

async function load(msg: LoadMessage): Promise<void> {
  const t0 = performance.now();
  mode = msg.mode;
  marker = markerPrefix(msg.markerNonce);
  bundleRoot = msg.bundleDir;
  // Before user code loads (a serving's output is not attributed per call: nothing to watch).
  if (mode === "job") watchOutput(outputHooks);
  loading = true;
  writeMarker("begin", "load");
  // Spans made while loading (module top level, remoteInit) nest under the cold-start span.
  tracer.setProcessParent(msg.traceparent ?? null);
  let answer: ChildMessage;
  try {
    if (!msg.compiledAhead) useCommonJsLoaderFor(msg.bundleDir);
    const value = await materialize({ ...msg.locator, file: path.resolve(msg.bundleDir, msg.locator.file) });
    const attributes = msg.name !== undefined ? { serving: msg.name } : undefined;
    if (hasRemoteInit(value)) await tracer.withSpan("remote-init", () => remoteInit(value), { attributes });
    const surface = mode === "serving" ? surfaceOf(value, msg.locator.kind, msg.signature) : undefined;
    target = new LoadedTarget(value, { surface, name: msg.name ?? msg.locator.exportName, concurrency: msg.concurrency, timeoutMs: msg.timeoutMs });
    // performance.now() counts from this process's start: fork → ready as the child sees it.
    answer = { type: "ready", coldStartMs: performance.now(), loadMs: performance.now() - t0, ...(surface ? { surface: describeSurface(surface) } : {}) };
  } catch (err) {
    if (mode === "serving") process.stderr.write(`nbox serving: startup failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    answer = { type: "load-failed", error: wire(err) };
  }
  tracer.setProcessParent(null);
  flushSpans();
  loading = false;
  writeMarker("end", "load");
  send(answer);
}

function hasRemoteInit(t: unknown): boolean {
  return isOperator(t) || (t !== null && typeof t === "object" && typeof (t as { remoteInit?: unknown }).remoteInit === "function");
}

async function remoteInit(t: unknown): Promise<void> {
  // Operators run `remoteInit` across their whole tree; a plain (wrapped-class) instance may have its own hook.
  if (isOperator(t)) await t.triggerRemoteInit();
  else await (t as { remoteInit(): unknown }).remoteInit();
}

function result(id: number, outcome: { ok: true; value: unknown } | { ok: false; err: unknown }, marked?: boolean): void {
  const m = marked ? { marked } : {};
  if (outcome.ok) send({ type: "result", id, ok: true, value: outcome.value, ...m });
  else {
    const refused = refusalOf(outcome.err);
    send({ type: "result", id, ok: false, error: wire(outcome.err), ...(refused ? { refused } : {}), ...m });
  }
}

async function call(msg: CallMessage): Promise<void> {
  if (!target) return result(msg.id, { ok: false, err: new Error("call before a successful load") });
  if (mode === "job") return jobCall(msg, target);
  try {
    result(msg.id, { ok: true, value: await target.run(msg.op, msg.traceparent, msg.encoding) });
  } catch (err) {
    result(msg.id, { ok: false, err });
  }
}

/** Job mode: one call at a time, its output between markers, its spans and stray errors its own. */
async function jobCall(msg: CallMessage, t: LoadedTarget): Promise<void> {
  // Root spans of this run become children of the caller's span.
  tracer.setProcessParent(msg.traceparent ?? null);
  let outcome: { ok: true; value: unknown } | { ok: false; err: unknown };
  const call = { id: msg.id, fail: (_err: unknown) => {}, marked: false };
  // A frame an earlier call's late output opened: closed, so this call's unmarked output is its own.
  closeFrame();
  current = call;
  if (frameEveryCall) frameOutput();
  // An error thrown from a timer or an unhandled rejection during the call fails the call (not the process).
  const guarded = (op: CallOp) => {
    const crashed = new Promise<never>((_, reject) => (call.fail = reject));
    crashed.catch(() => {});
    return Promise.race([callContext.run(msg.id, () => t.run(op, undefined, msg.encoding)), crashed]);
  };
  try {
    const op = msg.op;
    outcome = { ok: true, value: op.kind === "calls" ? await batchedCalls(msg.id, op, guarded) : await guarded(op) };
  } catch (err) {
    outcome = { ok: false, err };
  }
  flushSpans(); // the call's spans reach the parent before its result
  current = null;
  tracer.setProcessParent(null);
  closeFrame(call.marked ? msg.id : framed);
  result(msg.id, outcome, call.marked);
  // Nothing else can join a job's result (one call at a time): out now, not at the end of the turn.
  outbox.flush();
}

/**
 * A batched run's calls, one after the other: each settles on its own (a throw fails that call
 * only). Their outcomes go to the parent every PROGRESS_MS as they come; the rest are the answer.
 */
async function batchedCalls(id: number, op: Extract<CallOp, { kind: "calls" }>, guarded: (op: CallOp) => Promise<unknown>): Promise<unknown[]> {
  unsent = { id, outcomes: [] };
  let sentAt = performance.now();
  try {
    for (const args of op.calls) {
      try {
        unsent.outcomes.push({ ok: true, value: await guarded({ kind: "job", args, ...(op.method !== undefined ? { method: op.method } : {}) }) });
      } catch (err) {
        unsent.outcomes.push({ ok: false, error: wire(err) });
      }
      if (performance.now() - sentAt >= PROGRESS_MS) {
        sendProgress();
        outbox.flush();
        sentAt = performance.now();
      }
    }
    return unsent.outcomes;
  } finally {
    unsent = null;
  }
}

/** The batched call running now and the outcomes of its calls not sent yet (user code exiting the process sends them). */
let unsent: { id: number; outcomes: unknown[] } | null = null;
function sendProgress(): void {
  if (!unsent || unsent.outcomes.length === 0) return;
  send({ type: "progress", id: unsent.id, outcomes: unsent.outcomes });
  unsent.outcomes = [];
}

/** Job mode: calls waiting behind the running one, in arrival order. */
const jobQueue: CallMessage[] = [];
let jobsRunning = false;

function enqueueJob(msg: CallMessage): void {
  jobQueue.push(msg);
  if (!jobsRunning) void runJobs();
}

async function runJobs(): Promise<void> {
  jobsRunning = true;
  for (let msg = jobQueue.shift(); msg; msg = jobQueue.shift()) {
    try {
      await call(msg);
    } catch (err) {
      onStray(err); // never expected (a call answers its own errors); the queue must go on regardless
    }
  }
  jobsRunning = false;
}

/** A job call still waiting goes back unrun; one that started (or is unknown) is not touched. */
function dropJob(id: number): void {
  const i = jobQueue.findIndex((m) => m.id === id);
  if (i < 0) return;
  jobQueue.splice(i, 1);
  send({ type: "result", id, ok: false, dropped: true, error: wire(new Error(`call ${id} was taken back before it started`)) });
  outbox.flush();
}

// The SDK's requests with the injected token ask through here when the platform refused it.
const tokenWaiters = new Set<(token: string | undefined, why?: string) => void>();
setRuntimeTokenRenewer(
  () =>
    new Promise<string | undefined>((resolve, reject) => {
      const done = (token: string | undefined, why?: string) => {
        clearTimeout(timer);
        tokenWaiters.delete(done);
        if (!token && why) reject(new Error(why));
        else resolve(token);
      };
      const timer = setTimeout(() => done(undefined), TOKEN_RENEW_WAIT_MS).unref();
      tokenWaiters.add(done);
      if (tokenWaiters.size === 1) {
        send({ type: "token-renew" });
        outbox.flush();
      }
    }),
);

process.on("message", (envelope: unknown) => {
  for (const msg of unpack(envelope)) {
    if (!isParentMessage(msg)) continue;
    if (msg.type === "token") for (const done of [...tokenWaiters]) done(msg.token ?? undefined, msg.why);
    else if (msg.type === "load") loaded = load(msg);
    else if (msg.type === "drop") void loaded.then(() => dropJob(msg.id));
    // Calls start in arrival order: the order the parent received them in is the instance's FIFO
    // (a job runtime runs them one at a time).
    else void loaded.then(() => (mode === "job" && target ? enqueueJob(msg) : call(msg)));
  }
});

// User code must not be able to kill the runtime by accident; process.exit still does (on purpose).
function onStray(err: unknown): void {
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  if (mode === "serving") process.stderr.write(`nbox serving: uncaught error: ${text}\n`);
  else if (current) current.fail(err);
  else process.stderr.write(`nbox worker: uncaught error outside a run: ${text}\n`);
}
process.on("uncaughtException", onStray);
process.on("unhandledRejection", onStray);

// Answers already made still leave when user code exits the process on purpose.
process.on("exit", () => {
  flushSpans();
  sendProgress();
  outbox.flush();
});
// Parent gone (crashed or closed the channel): nothing more will ever be asked of us.
process.on("disconnect", () => process.exit(0));
// Unsandboxed, also when user code keeps the event loop from ever hearing that.
// The tag stays in the environment: subprocesses of user code inherit it (see process-tag.ts).
const processTag = process.env[PROCESS_TAG_ENV];
const parent = parentToWatch(process.env);
if (parent !== undefined) watchParent(processTag === undefined ? undefined : `${PROCESS_TAG_ENV}=${processTag}`, parent);
delete process.env[WATCH_PARENT_ENV];
