// A local map keeps its contract in hostile surroundings: an app that swapped the global Promise
// for a library's, errors whose fields throw, and tracing switched off (NBOX_TRACE=0).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { getTracer, MapItemError, operator } from "../../src/index.ts";

/**
 * A userland promise whose callbacks run from one shared queue, flushed once per turn (as promise
 * libraries do when they do not track async context): they run in the trace context of whoever
 * scheduled the flush, not the one they were attached in.
 */
class QueuedPromise<T> {
  static queue: Array<() => void> = [];
  static scheduled = false;
  static defer(fn: () => void): void {
    QueuedPromise.queue.push(fn);
    if (QueuedPromise.scheduled) return;
    QueuedPromise.scheduled = true;
    setImmediate(() => {
      QueuedPromise.scheduled = false;
      const q = QueuedPromise.queue;
      QueuedPromise.queue = [];
      for (const f of q) f();
    });
  }
  static resolve(v: unknown): QueuedPromise<unknown> {
    return v instanceof QueuedPromise ? v : new QueuedPromise((ok) => ok(v));
  }
  static reject(e: unknown): QueuedPromise<never> {
    return new QueuedPromise((_, no) => no(e));
  }
  private state: "pending" | "ok" | "err" = "pending";
  private value: unknown;
  private waiters: Array<[(v: unknown) => void, (e: unknown) => void]> = [];
  constructor(executor: (ok: (v: T) => void, no: (e: unknown) => void) => void) {
    try {
      executor((v) => this.settle("ok", v), (e) => this.settle("err", e));
    } catch (e) {
      this.settle("err", e);
    }
  }
  private settle(state: "ok" | "err", v: unknown): void {
    if (this.state !== "pending") return;
    if (state === "ok" && v !== null && typeof v === "object" && typeof (v as PromiseLike<unknown>).then === "function") {
      (v as PromiseLike<unknown>).then((x) => this.settle("ok", x), (e) => this.settle("err", e));
      return;
    }
    this.state = state;
    this.value = v;
    for (const [a, b] of this.waiters.splice(0)) QueuedPromise.defer(() => (state === "ok" ? a(v) : b(v)));
  }
  then(onOk?: (v: T) => unknown, onErr?: (e: unknown) => unknown): QueuedPromise<unknown> {
    return new QueuedPromise((ok, no) => {
      const run = (fn: ((x: any) => unknown) | undefined, v: unknown, pass: (x: unknown) => void) => {
        try {
          if (fn) ok(fn(v));
          else pass(v);
        } catch (e) {
          no(e);
        }
      };
      const a = (v: unknown) => run(onOk, v, ok);
      const b = (e: unknown) => run(onErr, e, no);
      if (this.state === "pending") this.waiters.push([a, b]);
      else QueuedPromise.defer(() => (this.state === "ok" ? a(this.value) : b(this.value)));
    });
  }
}

test("with the global Promise swapped for a userland one, map's items keep their own results and spans", async () => {
  const spanOf: string[] = [];
  // Every item settles in the same turn, so one flush of the userland queue runs all their callbacks.
  const gate = new Promise((resolve) => setTimeout(resolve, 5));
  const f = operator(async function tenTimes(i: number) {
    spanOf[i] = getTracer().currentSpan()!.spanId;
    await gate;
    return i * 10;
  });
  const before = new Set(getTracer().memory.spans().map((s) => s.spanId));
  const Native = globalThis.Promise;
  let pending: Promise<unknown[]>;
  (globalThis as any).Promise = QueuedPromise;
  try {
    pending = f.map([0, 1, 2, 3]); // the calls start (and chain their outcomes) now
  } finally {
    globalThis.Promise = Native;
  }
  assert.deepEqual(await pending, [0, 10, 20, 30]);
  const spans = getTracer().memory.spans().filter((s) => !before.has(s.spanId) && s.name === "tenTimes");
  assert.deepEqual(spans.map((s) => s.spanId).sort(), [...spanOf].sort(), "each item's span ended once");
});

test("an error whose fields throw fails its item, not the map's bookkeeping (no hang, no unhandled rejection)", async () => {
  const hostile = () => {
    const e = new Error("hostile");
    Object.defineProperty(e, "stack", { get: () => { throw new Error("no stack for you"); } });
    return e;
  };
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  const onWarning = () => {};
  process.on("warning", onWarning);
  try {
    const f = operator(async function rejectsHostile(i: number) {
      if (i === 1) throw hostile();
      return i;
    });
    const err = await f.map([0, 1, 2]).then(() => assert.fail("should reject"), (e: unknown) => e);
    assert.ok(err instanceof MapItemError && err.index === 1, String(err));
    const g = operator(function throwsHostile(): never {
      throw hostile();
    });
    await assert.rejects(g(), (e: unknown) => e instanceof Error && e.message === "hostile");
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off("unhandledRejection", onUnhandled);
    process.off("warning", onWarning);
  }
});

test("with tracing off (NBOX_TRACE=0), a failed item still rejects the map with MapItemError naming it", async () => {
  const code = `const { operator, MapItemError } = await import(${JSON.stringify(fileURLToPath(new URL("../../src/index.ts", import.meta.url)))});
    const f = operator(async function odd(i) { if (i % 2) throw new RangeError("odd " + i); return i; });
    console.log(JSON.stringify(await f.map([0, 2, 4])));
    try { await f.map([0, 2, 3, 5]); } catch (e) { console.log(e instanceof MapItemError, e.index, e.cause.message); }`;
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    env: { ...process.env, NBOX_TRACE: "0" },
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
  });
  assert.deepEqual(stdout.trim().split("\n"), ["[0,2,4]", "true 2 odd 3"]);
});
