// The worker child: loads one operator from a bundle, then runs calls one at a time on request
// from the parent (see protocol.ts). Started through runtime-main.mjs, which installs tsx first.
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fromWire, toWire } from "../../codec/index.ts";
import { relativeSpanStack, relativeWireStacks } from "../../codec/stack-paths.ts";
import { isOperator } from "../../operator/brand.ts";
import { callAsJob } from "../../operator/job-call.ts";
import { materialize } from "../../operator/materialize.ts";
import { getTracer } from "../../trace/index.ts";
import type { Span } from "../../trace/span.ts";
import { MARKER_ENV, isParentMessage, markerPrefix, type ChildMessage, type LoadMessage, type RunMessage } from "./protocol.ts";

const marker = markerPrefix(process.env[MARKER_ENV] ?? "none");
const tracer = getTracer();

let target: unknown;
let loaded = false;
/** Run currently executing; spans and uncaught errors are attributed to it. */
let current: { runId: string; fail: (err: unknown) => void } | null = null;
/** While loading, spans belong to the cold start (runId null). */
let loading = false;

function send(msg: ChildMessage): void {
  if (!process.connected) return;
  try {
    process.send!(msg);
  } catch {
    // A span attribute that structured clone cannot copy (a function, a socket): send a JSON copy.
    if (msg.type === "span") {
      try {
        process.send!({ ...msg, span: JSON.parse(JSON.stringify(msg.span, (_k, v) => (typeof v === "bigint" ? String(v) : v))) as Span });
      } catch {
        // Drop the span rather than the process.
      }
    }
  }
}

/** The loaded bundle's folder: error stacks sent to the parent name paths relative to it. */
let bundleRoot: string | undefined;

function wireError(err: unknown): unknown {
  let wire: unknown;
  try {
    wire = toWire(err instanceof Error ? err : new Error(`non-Error thrown: ${String(err)}`));
  } catch {
    wire = toWire(new Error(String(err)));
  }
  return bundleRoot === undefined ? wire : relativeWireStacks(wire, bundleRoot);
}

// Every finished span goes to the parent, tagged with the run it belongs to.
tracer.addSink({
  push(span) {
    relativeSpanStack(span, bundleRoot);
    if (current) send({ type: "span", runId: current.runId, span });
    else if (loading) send({ type: "span", runId: null, span });
  },
});

function writeMarker(kind: "begin" | "end", runId: string): void {
  // Synchronous on Linux pipes; order within each stream is what matters.
  process.stdout.write(`${marker}${kind}:${runId}\n`);
  process.stderr.write(`${marker}${kind}:${runId}\n`);
}

async function load(msg: LoadMessage): Promise<void> {
  const t0 = performance.now();
  loading = true;
  // Spans made while loading (module top level, remoteInit) nest under the cold-start span.
  tracer.setProcessParent(msg.traceparent ?? null);
  bundleRoot = msg.bundleDir;
  try {
    const file = path.resolve(msg.bundleDir, msg.locator.file);
    target = await materialize({ ...msg.locator, file });
    if (hasRemoteInit(target)) await tracer.withSpan("remote-init", () => remoteInit(target));
    loaded = true;
    // performance.now() counts from this process's start: fork → ready as the child sees it.
    send({ type: "ready", coldStartMs: performance.now(), loadMs: performance.now() - t0 });
  } catch (err) {
    send({ type: "load-failed", error: wireError(err) });
  } finally {
    loading = false;
    tracer.setProcessParent(null);
  }
}

function hasRemoteInit(t: unknown): boolean {
  return isOperator(t) || (t !== null && typeof t === "object" && typeof (t as { remoteInit?: unknown }).remoteInit === "function");
}

async function remoteInit(t: unknown): Promise<void> {
  // Operators run `remoteInit` across their whole tree; a plain (wrapped-class) instance may have its own hook.
  if (isOperator(t)) await t.triggerRemoteInit();
  else if (t !== null && typeof t === "object" && typeof (t as { remoteInit?: unknown }).remoteInit === "function") {
    await (t as { remoteInit(): unknown }).remoteInit();
  }
}

const FORBIDDEN_METHODS = new Set(["constructor", "__proto__", "prototype"]);

function invokeTarget(msg: RunMessage, args: unknown[]): unknown {
  if (msg.method === undefined) return callAsJob(target, args);
  const m = msg.method;
  if (m.startsWith("_") || m.startsWith("#") || FORBIDDEN_METHODS.has(m) || m in Object.prototype) {
    throw new TypeError(`method "${m}" cannot be called remotely`);
  }
  const fn = (target as Record<string, unknown> | null)?.[m];
  if (typeof fn !== "function") throw new TypeError(`the loaded target has no method "${m}"`);
  return (fn as (...a: unknown[]) => unknown).apply(target, args);
}

async function run(msg: RunMessage): Promise<void> {
  if (!loaded) {
    send({ type: "result", runId: msg.runId, ok: false, error: wireError(new Error("run before a successful load")) });
    return;
  }
  // Root spans of this run become children of the caller's span.
  tracer.setProcessParent(msg.traceparent ?? null);
  writeMarker("begin", msg.runId);
  let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
  try {
    const args = msg.args.map((a) => fromWire(a));
    // An error thrown from a timer or an unhandled rejection during the run fails the run (not the process).
    const crashed = new Promise<never>((_, reject) => (current = { runId: msg.runId, fail: reject }));
    crashed.catch(() => {});
    const value = await Promise.race([Promise.resolve().then(() => invokeTarget(msg, args)), crashed]);
    outcome = { ok: true, value: toWire(value, { path: "result" }) };
  } catch (err) {
    outcome = { ok: false, error: wireError(err) };
  }
  current = null;
  tracer.setProcessParent(null);
  writeMarker("end", msg.runId);
  send({ type: "result", runId: msg.runId, ...outcome });
}

// Calls are serialised: the parent sends one run at a time, but a queue keeps us honest.
let chain: Promise<void> = Promise.resolve();
process.on("message", (msg: unknown) => {
  if (!isParentMessage(msg)) return;
  chain = chain.then(() => (msg.type === "load" ? load(msg) : run(msg)));
});

// User code must not be able to kill the worker by accident; process.exit still does (on purpose).
function onStray(err: unknown): void {
  if (current) current.fail(err);
  else process.stderr.write(`nbox worker: uncaught error outside a run: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
}
process.on("uncaughtException", onStray);
process.on("unhandledRejection", onStray);

// Parent gone (crashed or closed the channel): nothing more will ever be asked of us.
process.on("disconnect", () => process.exit(0));
