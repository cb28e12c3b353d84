// The one child runtime over IPC, driven directly: one load, then calls of every kind by id.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fromWire, toWire } from "../../../src/codec/index.ts";
import type { Span } from "../../../src/trace/span.ts";
import { RuntimeProcess } from "../../../src/worker/runtime/runtime-process.ts";
import { WORKER_CRASH } from "../../../src/contract/run-errors.ts";
import { tempProject, type TempProject } from "../../platform/executor/_project.ts";
import { appOver, ok, post, servingRuntime } from "./_runtime.ts";

const OPS = `
import { Operator } from "nbox";
import { readFileSync, writeFileSync } from "node:fs";
import { Worker } from "node:worker_threads";

export class Printer {
  quiet() { return 1; }
  /** Returns, and the process dies in the very next turn of its event loop. */
  killedNextTurn() { setImmediate(() => process.kill(process.pid, "SIGKILL")); return "answered"; }
  /** Everything the process was started with, as user code can read it. */
  environ() { return readFileSync("/proc/self/environ", "utf8"); }
  file(tag: string) { writeFileSync(1, "file " + tag + "\\n"); return tag; }
  async thread(tag: string) {
    const w = new Worker("require('node:fs').writeSync(1, 'thread " + tag + "\\\\n')", { eval: true });
    await new Promise((resolve) => w.on("exit", resolve));
    return tag;
  }
}

export class Counter {
  n = 0;
  closed = 0;
  log: string[] = [];
  _secret = "hidden";
  inc(by = 1) { return (this.n += by); }
  grow() { (this as any).extra = "added"; return "grown"; }
  when() { return new Date(0); }
  fail(msg: string) { throw new TypeError(msg); }
  async slow(tag: string, ms: number) {
    this.log.push("start " + tag);
    await new Promise((r) => setTimeout(r, ms));
    this.log.push("end " + tag);
    return tag;
  }
  hang() { return new Promise(() => {}); }
  die() { setTimeout(() => process.exit(7), 20); return "bye"; }
  stray() { setTimeout(() => { throw new RangeError("from a timer"); }, 1); return "ok"; }
  shout(s: string) { console.log("shout " + s); return s; }
  *letters() { yield "a"; yield "b"; }
  async *ticks() {
    try { for (let i = 0; ; i++) yield i; }
    finally { this.closed += 1; }
  }
  _hidden() { return "nope"; }
}

/** A Counter with a method whose timer throws while a later call runs (batched calls). */
export class Batch extends Counter {
  /** 0: arms a timer that throws in 1 ms; > 0: sleeps that long; else answers at once. */
  strayOr(ms: number) {
    if (ms === 0) { setTimeout(() => { throw new RangeError("from a timer"); }, 1); return "armed"; }
    return ms > 0 ? new Promise((r) => setTimeout(() => r("slept"), ms)) : "plain";
  }
  exitWith(code?: number) { if (code !== undefined) process.exit(code); return "alive"; }
}

/** Like a class with __getattr__: its constructor returns a Proxy answering unknown names. */
export class Echo {
  x = 1;
  _secret = "hidden";
  constructor() {
    return new Proxy(this, { get: (t, k, r) => (typeof k === "symbol" || k in t ? Reflect.get(t, k, r) : "echo:" + String(k)) });
  }
  get double() { return this.x * 2; }
}

export class Doubler extends Operator {
  constructor(private k = 2) { super(); }
  forward(x: number) { return x * this.k; }
}
`;

let project: TempProject;
before(async () => {
  project = await tempProject(OPS);
});
after(async () => {
  await project.cleanup();
});

describe("child runtime, serving mode", () => {
  let rt: RuntimeProcess;
  let surface: Awaited<ReturnType<typeof servingRuntime>>["surface"];
  const spans: Span[] = [];
  const lines: string[] = [];
  before(async () => {
    ({ rt, surface } = await servingRuntime(project, "Counter"));
    rt.onSpans = (s) => void spans.push(...s);
    rt.onLog = (_stream, line) => void lines.push(line);
  });
  after(async () => {
    await rt.kill("test");
  });

  test("ready reports the surface: methods with kinds, fields, no forward; private names left out", () => {
    assert.deepEqual(Object.keys(surface.methods).sort(), ["die", "fail", "grow", "hang", "inc", "letters", "shout", "slow", "stray", "ticks", "when"]);
    assert.equal(surface.methods.ticks!.kind, "asyncGenerator");
    assert.equal(surface.methods.letters!.kind, "generator");
    assert.equal(surface.methods.slow!.kind, "async");
    assert.equal(surface.methods.inc!.kind, "method");
    assert.deepEqual(surface.fields, ["n", "closed", "log"]);
    assert.equal(surface.forward, null);
  });

  test("one load, then many calls of mixed kinds on the same instance", async () => {
    assert.equal(fromWire(ok(await rt.call({ kind: "method", name: "inc", args: [toWire(5)] }))), 5);
    assert.equal(ok(await rt.call({ kind: "method", name: "inc", args: [] }, { encoding: "plain" })), 6);
    assert.equal(fromWire(ok(await rt.call({ kind: "get", name: "n" }))), 6);
    ok(await rt.call({ kind: "set", name: "n", value: toWire(40) }));
    assert.equal(ok(await rt.call({ kind: "method", name: "inc", args: [toWire(2)] }, { encoding: "plain" })), 42);
    assert.equal(ok(await rt.call({ kind: "writable", name: "n" })), true);
    assert.equal(ok(await rt.call({ kind: "writable", name: "inc" })), false);
    assert.deepEqual(ok(await rt.call({ kind: "ping" })), { queued: 0 });
    // Values in either encoding: the codec keeps a Date, plain JSON makes it a string.
    assert.deepEqual(fromWire(ok(await rt.call({ kind: "method", name: "when", args: [] }))), new Date(0));
    assert.equal(ok(await rt.call({ kind: "method", name: "when", args: [] }, { encoding: "plain" })), "1970-01-01T00:00:00.000Z");
    // A generator called as a method: every item at once.
    assert.deepEqual(ok(await rt.call({ kind: "method", name: "letters", args: [] }, { encoding: "plain" })), ["a", "b"]);
    // Fields are read live: a call may add one.
    ok(await rt.call({ kind: "method", name: "grow", args: [] }));
    assert.ok((ok(await rt.call({ kind: "fields" })) as string[]).includes("extra"));
    assert.equal(rt.state, "ready");
  });

  test("a user error keeps its name and message, stack relative to the bundle; the runtime keeps serving", async () => {
    const r = await rt.call({ kind: "method", name: "fail", args: [toWire("bad input")] });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.reason, "error");
    assert.equal(r.refused, undefined);
    const err = fromWire(r.error) as Error;
    assert.ok(err instanceof TypeError);
    assert.equal(err.message, "bad input");
    assert.match(err.stack ?? "", /ops\.ts/);
    assert.doesNotMatch(err.stack ?? "", new RegExp(project.dir));
    assert.equal(typeof ok(await rt.call({ kind: "method", name: "inc", args: [] }, { encoding: "plain" })), "number");
  });

  test("the allow-list: constructor, _names, Object and framework names are refused, even for reads", async () => {
    for (const name of ["constructor", "_hidden", "__proto__", "prototype", "toString", "hasOwnProperty", "$set", "deploy", "remoteInit", "nope"]) {
      const r = await rt.call({ kind: "method", name, args: [] });
      assert.equal(r.ok, false, name);
      if (!r.ok) assert.equal(r.refused, "NOT_FOUND", name);
    }
    for (const name of ["_secret", "constructor", "__proto__", "inc"]) {
      const r = await rt.call({ kind: "get", name });
      assert.equal(!r.ok && r.refused, "NOT_FOUND", name);
      const w = await rt.call({ kind: "set", name, value: toWire(1) });
      assert.equal(!w.ok && w.refused, "NOT_FOUND", name);
    }
    assert.equal(fromWire(ok(await rt.call({ kind: "get", name: "n" }))), 43);
  });

  test("a stream: start, next, next, return — the generator's finally runs, its span ends", async () => {
    const closed = fromWire(ok(await rt.call({ kind: "get", name: "closed" }))) as number;
    ok(await rt.call({ kind: "stream-start", stream: 1, name: "ticks", args: [] }, { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" }));
    assert.deepEqual(ok(await rt.call({ kind: "stream-next", stream: 1 }, { encoding: "plain" })), { done: false, value: 0 });
    assert.deepEqual(ok(await rt.call({ kind: "stream-next", stream: 1 }, { encoding: "plain" })), { done: false, value: 1 });
    ok(await rt.call({ kind: "stream-return", stream: 1 }));
    assert.equal(fromWire(ok(await rt.call({ kind: "get", name: "closed" }))), closed + 1);
    const gone = await rt.call({ kind: "stream-next", stream: 1 });
    assert.equal(!gone.ok && gone.refused, "NOT_FOUND");
    // A finite stream ends by itself.
    ok(await rt.call({ kind: "stream-start", stream: 2, name: "letters", args: [] }));
    const steps = [];
    for (let i = 0; i < 3; i++) steps.push(ok(await rt.call({ kind: "stream-next", stream: 2 }, { encoding: "plain" })));
    assert.deepEqual(steps, [{ done: false, value: "a" }, { done: false, value: "b" }, { done: true }]);
    // Not a generator: refused, nothing left open.
    const notGen = await rt.call({ kind: "stream-start", stream: 3, name: "inc", args: [] });
    assert.equal(!notGen.ok && notGen.refused, "BAD_REQUEST");
    await new Promise((r) => setTimeout(r, 250)); // spans travel in batches
    const span = spans.find((s) => s.name === "ticks");
    assert.equal(span?.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert.equal(span?.parentSpanId, "00f067aa0ba902b7");
    assert.equal(span?.attributes.serving, "Counter");
  });

  test("a stray error from a timer is logged and the runtime keeps serving", async () => {
    assert.equal(ok(await rt.call({ kind: "method", name: "stray", args: [] }, { encoding: "plain" })), "ok");
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(lines.some((l) => l.includes("nbox serving: uncaught error: RangeError: from a timer")), lines.join("\n"));
    assert.deepEqual(ok(await rt.call({ kind: "ping" })), { queued: 0 });
  });
});

describe("child runtime, serving mode: concurrency and crashes", () => {
  test("concurrent calls through the app run one at a time, in arrival order", async () => {
    const { rt, surface } = await servingRuntime(project, "Counter", { timeoutMs: 10_000 });
    try {
      const app = appOver(rt, surface, "Counter");
      const tags = ["a", "b", "c", "d"];
      const answers = await Promise.all(tags.map((t, i) => app.request("/call/slow", post({ args: [t, 40 - i * 10] }))));
      assert.deepEqual(await Promise.all(answers.map((r) => r.json())), tags.map((t) => ({ ok: true, value: t })));
      const log = fromWire(ok(await rt.call({ kind: "get", name: "log" })));
      assert.deepEqual(log, tags.flatMap((t) => [`start ${t}`, `end ${t}`]));
    } finally {
      await rt.kill("test");
    }
  });

  test("a call past its timeout answers TIMEOUT and keeps running; the FIFO moves on", async () => {
    const { rt } = await servingRuntime(project, "Counter", { timeoutMs: 150 });
    try {
      const late = rt.call({ kind: "method", name: "slow", args: [toWire("late"), toWire(400)] });
      const next = rt.call({ kind: "method", name: "slow", args: [toWire("next"), toWire(10)] }, { encoding: "plain" });
      const r = await late;
      assert.equal(!r.ok && r.refused, "TIMEOUT");
      const err = fromWire(!r.ok && r.error) as Error;
      assert.equal(err.name, "TimeoutError");
      assert.equal(err.message, "slow() did not finish within 150 ms");
      assert.equal(ok(await next), "next");
      await new Promise((res) => setTimeout(res, 400));
      // The late call went on in the background and finished after the next one.
      assert.deepEqual(fromWire(ok(await rt.call({ kind: "get", name: "log" }))), ["start late", "start next", "end next", "end late"]);
    } finally {
      await rt.kill("test");
    }
  });

  test("a crash fails every pending call with the WorkerCrashError wire error", async () => {
    // No limit on concurrent calls: `die` runs while the others hang.
    const { rt } = await servingRuntime(project, "Counter", { concurrency: 0, timeoutMs: 0 });
    const stderr: string[] = [];
    rt.onLog = (stream, line) => void (stream === "stderr" && stderr.push(line));
    const hung = [1, 2, 3].map(() => rt.call({ kind: "method", name: "hang", args: [] }));
    assert.equal(ok(await rt.call({ kind: "method", name: "die", args: [] }, { encoding: "plain" })), "bye");
    const results = await Promise.all(hung);
    for (const r of results) {
      assert.equal(r.ok, false);
      if (r.ok) continue;
      assert.equal(r.reason, "crash");
      const err = fromWire(r.error) as Error & { exitCode?: number };
      assert.equal(err.name, WORKER_CRASH);
      assert.match(err.message, /exited with code 7/);
      assert.equal(err.exitCode, 7);
    }
    assert.equal(rt.state, "exited");
    assert.equal(rt.inFlight, 0);
    // Later calls fail at once, the same way.
    const late = await rt.call({ kind: "ping" });
    assert.equal(!late.ok && late.reason, "crash");
  });

  test("attribute reads resolve on the live instance, through its Proxy", async () => {
    const { rt, surface } = await servingRuntime(project, "Echo");
    try {
      assert.deepEqual(surface.fields.sort(), ["double", "x"]);
      assert.equal(ok(await rt.call({ kind: "get", name: "x" }, { encoding: "plain" })), 1);
      assert.equal(ok(await rt.call({ kind: "get", name: "double" }, { encoding: "plain" })), 2);
      assert.equal(ok(await rt.call({ kind: "get", name: "anything" }, { encoding: "plain" })), "echo:anything");
      for (const name of ["_secret", "constructor", "toString", "then", "forward"]) {
        const r = await rt.call({ kind: "get", name });
        assert.equal(!r.ok && r.refused, "NOT_FOUND", name);
      }
    } finally {
      await rt.kill("test");
    }
  });

  test("an Operator is served at forward", async () => {
    const { rt, surface } = await servingRuntime(project, "Doubler", { kind: "operator", init: [3] });
    try {
      assert.equal(surface.forward?.maxArgs, 1);
      assert.equal(ok(await rt.call({ kind: "forward", args: [toWire(5)] }, { encoding: "plain" })), 15);
    } finally {
      await rt.kill("test");
    }
  });
});

describe("child runtime, job mode", () => {
  test("job calls by id, the target's methods through the same allow-list, logs attributed per call", async () => {
    const rt = new RuntimeProcess({ mode: "job", bundleDir: project.dir, locator: project.locator("Counter", "class") });
    try {
      const loaded = await rt.loaded;
      assert.equal(loaded.ok, true);
      assert.equal(loaded.ok && loaded.surface, undefined, "a job runtime reports no surface");
      const lines: string[] = [];
      const r = await rt.call({ kind: "job", args: [toWire("hi")], method: "shout" }, { onLog: (_s, line) => void lines.push(line) });
      assert.equal(fromWire(ok(r)), "hi");
      assert.deepEqual(lines, ["shout hi"]);
      for (const method of ["constructor", "_hidden", "__proto__", "toString"]) {
        const refused = await rt.call({ kind: "job", args: [], method });
        assert.equal(!refused.ok && refused.refused, "NOT_FOUND", method);
        assert.match((fromWire(!refused.ok && refused.error) as Error).message, /cannot be called remotely/);
      }
      // No forward(): a plain job call on a class without one says so.
      const bare = await rt.call({ kind: "job", args: [] });
      assert.match((fromWire(!bare.ok && bare.error) as Error).message, /has no forward\(\) method/);
      // Serving operations have no instance to work on in a job runtime.
      const get = await rt.call({ kind: "get", name: "n" });
      assert.equal(!get.ok && get.refused, "NOT_FOUND");
    } finally {
      await rt.kill("test");
    }
  });

  /** A job runtime over `exportName`, loaded, with what its child wrote to stdout so far (markers included: the parent consumes them). */
  async function withRawJobRuntime(exportName: string, fn: (rt: RuntimeProcess, raw: () => string) => Promise<void>): Promise<void> {
    const rt = new RuntimeProcess({ mode: "job", bundleDir: project.dir, locator: project.locator(exportName, "class") });
    try {
      assert.equal((await rt.loaded).ok, true);
      let raw = "";
      rt.child.stdout!.on("data", (chunk: Buffer | string) => void (raw += String(chunk)));
      await fn(rt, () => raw);
    } finally {
      await rt.kill("test");
    }
  }

  test("a job call that prints nothing writes no output markers; one that prints is framed by them", () =>
    withRawJobRuntime("Counter", async (rt, raw) => {
      const MARK = "\u001enbox-exec:";
      for (let i = 0; i < 5; i++) ok(await rt.call({ kind: "job", args: [toWire(1)], method: "inc" }));
      assert.equal(raw().includes(MARK), false, `no markers for quiet calls, got ${JSON.stringify(raw())}`);
      const lines: string[] = [];
      ok(await rt.call({ kind: "job", args: [toWire("x")], method: "shout" }, { onLog: (_s, line) => void lines.push(line) }));
      assert.deepEqual(lines, ["shout x"]);
      const marks = raw().split("\n").filter((l) => l.includes(MARK)).map((l) => l.slice(l.lastIndexOf(":") - 5));
      assert.equal(marks.length, 2, `a begin and an end marker on stdout, got ${JSON.stringify(raw())}`);
      assert.match(marks[0]!, /begin:\d+$/);
      assert.match(marks[1]!, /end:\d+$/);
    }));

  test("fs whole-file writes to fd 1 frame their call; after a worker thread every call is framed", () =>
    withRawJobRuntime("Printer", async (rt, raw) => {
      const begins = () => raw().split("\n").filter((l) => /\u001enbox-exec:[^:]+:begin:\d+$/.test(l)).length;
      const run = async (method: string, args: unknown[] = []) => {
        const lines: string[] = [];
        ok(await rt.call({ kind: "job", args: args.map((a) => toWire(a)), method }, { onLog: (_s, line) => void lines.push(line) }));
        return lines;
      };
      await run("quiet");
      assert.equal(begins(), 0, "a quiet call is not framed");
      assert.deepEqual(await run("file", ["f"]), ["file f"]);
      assert.equal(begins(), 1, "writeFileSync(1, …) framed its call");
      await run("quiet");
      assert.equal(begins(), 1, "quiet again: not framed");
      assert.deepEqual(await run("thread", ["t"]), ["thread t"]);
      assert.equal(begins(), 2, "the call that started a worker thread is framed");
      await run("quiet");
      assert.equal(begins(), 3, "from then on every call is framed, quiet or not");
    }));

  test("job calls sent together run one at a time in order; one still waiting can be taken back, a running one cannot", async () => {
    const rt = new RuntimeProcess({ mode: "job", bundleDir: project.dir, locator: project.locator("Counter", "class") });
    try {
      assert.equal((await rt.loaded).ok, true);
      const order: string[] = [];
      const job = (tag: string, ms: number) => {
        const c = rt.start({ kind: "job", args: [toWire(tag), toWire(ms)], method: "slow" });
        void c.result.then((r) => order.push(`${tag}:${r.ok ? "ok" : r.reason}`));
        return c;
      };
      // Run together, the short one would end first.
      const a = job("a", 60);
      const b = job("b", 0);
      const c = job("c", 0);
      rt.drop(c.id); // still waiting behind a and b
      rt.drop(a.id); // running: not taken back
      await Promise.all([a.result, b.result, c.result]);
      assert.deepEqual(order, ["c:dropped", "a:ok", "b:ok"]);
      assert.match((fromWire((await c.result as { error: unknown }).error) as Error).message, /taken back before it started/);
      // b (0 ms) answered after a (60 ms): one at a time. The queue goes on after a drop.
      const d = await rt.call({ kind: "job", args: [toWire("d"), toWire(0)], method: "slow" });
      assert.equal(fromWire(ok(d)), "d");
    } finally {
      await rt.kill("test");
    }
  });

  test("batched calls run one after the other, each with its own outcome: a throw or a timer's error fails only its call", async () => {
    const rt = new RuntimeProcess({ mode: "job", bundleDir: project.dir, locator: project.locator("Batch", "class") });
    try {
      assert.equal((await rt.loaded).ok, true);
      /** Every outcome of a batched call: those sent as progress (under load even quick calls take 10 ms), then the answer's. */
      const all = async (op: Parameters<typeof rt.call>[0], progress: unknown[][] = []) => {
        const r = await rt.call(op, { onProgress: (o) => void progress.push(o) });
        return [...progress.flat(), ...(ok(r) as unknown[])].map((o) => fromWire(o));
      };
      const r = await all({ kind: "calls", method: "inc", calls: [[toWire(2)], [toWire(3)]] });
      // The instance is the same for every call of the batch: 2, then 2 + 3.
      assert.deepEqual(r, [{ ok: true, value: 2 }, { ok: true, value: 5 }]);
      const outcomes = (await all({ kind: "calls", method: "fail", calls: [[toWire("one")], [toWire("two")]] })) as { ok: boolean; error: Error }[];
      assert.deepEqual(outcomes.map((o) => [o.ok, o.error.name, o.error.message]), [[false, "TypeError", "one"], [false, "TypeError", "two"]]);
      // A timer of the first call throws while the second (slow) call runs: the second fails, the third runs.
      const [armed, slept, plain] = (await all({ kind: "calls", method: "strayOr", calls: [[toWire(0)], [toWire(50)], [toWire(-1)]] })) as { ok: boolean; value?: string; error?: Error }[];
      assert.deepEqual([armed!.value, plain!.value], ["armed", "plain"]);
      assert.equal(slept!.ok, false);
      assert.equal(slept!.error!.message, "from a timer");
      const n = fromWire(ok(await rt.call({ kind: "job", args: [toWire(0)], method: "inc" })));
      assert.equal(n, 5, "the process is still healthy and keeps its instance");
      // Calls that take a while: their outcomes come as progress before the answer, which holds the rest.
      const progress: unknown[][] = [];
      const slow = await all({ kind: "calls", method: "slow", calls: ["p", "q", "r"].map((t) => [toWire(t), toWire(15)]) }, progress);
      assert.ok(progress.length >= 1, "progress came");
      assert.deepEqual((slow as { value: string }[]).map((o) => o.value), ["p", "q", "r"]);
      // User code exiting the process: the outcomes not sent yet still go out, the call then fails as a crash.
      const before: unknown[] = [];
      const exited = await rt.call({ kind: "calls", method: "exitWith", calls: [[], [], [toWire(7)], []] }, { onProgress: (o) => void before.push(...o) });
      assert.equal(exited.ok, false);
      assert.equal(!exited.ok && exited.reason, "crash");
      assert.deepEqual(before.map((o) => (fromWire(o) as { value: string }).value), ["alive", "alive"]);
    } finally {
      await rt.kill("test");
    }
  });

  test("a job call and its result leave at once, not at the end of the event loop's turn", () =>
    withRawJobRuntime("Printer", async (rt) => {
      // Parent side: the call is on the channel before call() returns (one call per job process: nothing would join it).
      const sent: unknown[] = [];
      const send = rt.child.send.bind(rt.child);
      rt.child.send = ((msg: unknown, ...rest: unknown[]) => (sent.push(msg), (send as (...a: unknown[]) => boolean)(msg, ...rest))) as typeof rt.child.send;
      const answer = rt.call({ kind: "job", args: [], method: "killedNextTurn" });
      assert.equal(sent.length, 1, "the call was written synchronously");
      // Child side: the result went out before the user's next-turn callback killed the process.
      assert.equal(fromWire(ok(await answer)), "answered");
      await rt.exited;
    }));

  test("the marker nonce is not in the process's environment, where /proc/self/environ would show it", () =>
    withRawJobRuntime("Printer", async (rt, raw) => {
      ok(await rt.call({ kind: "job", args: [toWire("n")], method: "file" }));
      const nonce = /\u001enbox-exec:([^:]+):/.exec(raw())?.[1];
      assert.ok(nonce, `a marker was seen: ${JSON.stringify(raw())}`);
      const environ = fromWire(ok(await rt.call({ kind: "job", args: [], method: "environ" }))) as string;
      assert.equal(environ.includes(nonce), false, "user code read the marker nonce in /proc/self/environ");
    }));
});
