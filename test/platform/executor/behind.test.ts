// A call sent behind a running one (`behind`, one process slot): it starts the moment the
// running call answers, in the same process, with its own output, spans and timeout; taken back
// before it started (cancelled, the call ahead ran long, or its process died) it has not run: it
// ends `cancelled` or `released` (its run goes back to the queue untouched).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { performance } from "node:perf_hooks";
import { fromWire, toWire } from "../../../src/codec/index.ts";
import { ProcessPool, executeCall, type CallOutcome, type ExecuteCallOptions } from "../../../src/worker/jobs/index.ts";
import { SHORT_CALL_MS } from "../../../src/worker/prefetch.ts";
import { OPS } from "./ops-fixture.ts";
import { recorder, runId, tempProject, type TempProject } from "./_project.ts";

let project: TempProject;
let pool: ProcessPool;

before(async () => {
  project = await tempProject(OPS);
  pool = new ProcessPool({ slots: 1, idleMs: 30_000 });
});
after(async () => {
  await pool.close();
  await project.cleanup();
});

/** `chatty(tag, ms)`: prints two stdout lines, one stderr line and a partial line around a wait of `ms`, returns `tag`. */
function chatty(tag: string, ms: number, o: Partial<ExecuteCallOptions> = {}) {
  return job("chatty", [tag, ms], o);
}

/**
 * How long a call behind waits here, unless a test asks for the executor's own bound (a short
 * call, 100 ms): a call ahead of 50 ms can run past that on a loaded machine, and the call behind
 * would be released where the test checks the order of starts.
 */
const ROOMY_WAIT_MS = 10_000;

/** One call of export `name`, recording its output, spans and starts. */
function job(name: string, args: unknown[], o: Partial<ExecuteCallOptions> = {}) {
  const rec = recorder();
  let startedAt: number | undefined;
  let starts = 0;
  const outcome = executeCall(pool, {
    key: `${project.dir}#${name}`,
    bundleDir: project.dir,
    locator: project.locator(name, "fn", []),
    runId: runId(),
    args: args.map((a) => toWire(a)),
    ...rec,
    ...(o.behind ? { behindWaitMs: ROOMY_WAIT_MS } : {}),
    ...o,
    onStart: () => {
      starts++;
      startedAt = performance.now();
      o.onStart?.();
    },
  });
  return { rec, outcome, started: () => startedAt, starts: () => starts };
}

function value(r: CallOutcome): unknown {
  if (!r.ok) assert.fail(`call failed (${r.reason}): ${(fromWire(r.error) as Error).stack ?? ""}`);
  return fromWire(r.value);
}

/** Until `check` holds (polled every few ms), failing after 20 s. */
async function until(check: () => boolean, what = "the condition"): Promise<void> {
  for (const deadline = Date.now() + 20_000; !check(); await new Promise((r) => setTimeout(r, 2))) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
  }
}

describe("executeCall behind a running call", () => {
  test("starts when the call ahead ends, in its process, with its own output and its own timeout", async () => {
    value(await chatty("warm", 0).outcome);
    const a = chatty("a", 80);
    await until(() => a.started() !== undefined, "a started");
    // Its limit (60 ms) is shorter than the wait behind `a` plus its own 20 ms: counted from its own start.
    const b = chatty("b", 20, { behind: 1, timeoutMs: 60 });
    const [ra, rb] = await Promise.all([a.outcome, b.outcome]);
    assert.equal(value(ra), "a");
    assert.equal(value(rb), "b");
    assert.equal(rb.coldStart, false);
    assert.equal(rb.pid, ra.pid, "the same process ran both");
    assert.equal(pool.stats().processes, 1);
    // A timer counts from its event loop's cached time, which a busy turn leaves a few ms behind the
    // clock: `a`'s 80 ms can end a little early by the clock, never by more than a turn.
    assert.ok(b.started()! - a.started()! >= 70, `b started ${b.started()! - a.started()!} ms after a, which waits 80 ms`);
    assert.equal(b.starts(), 1);
    // Each call's lines are its own, though both were in the process at once.
    assert.deepEqual(a.rec.lines("stdout"), ["out a 1", "out a 2", "partial a"]);
    assert.deepEqual(b.rec.lines("stdout"), ["out b 1", "out b 2", "partial b"]);
    assert.deepEqual(a.rec.lines("stderr"), ["err a"]);
    assert.deepEqual(b.rec.lines("stderr"), ["err b"]);
  });

  /**
   * `a` prints and its output is held up (its result waits for its end marker on stdout), `b` is
   * quiet and answers at once: b ran when the child answered a, whatever is left of a's output.
   * `sendB` says when b is sent: while a runs, or once a answered (a's span has arrived).
   */
  async function quietBehindChatty(sendB: "while a runs" | "after a answered") {
    value(await job("maybeLoud", ["warm", false]).outcome);
    const proc = pool.processes().find((p) => p.key.endsWith("#maybeLoud") && p.alive)!;
    proc.child.stdout!.pause();
    const a = job("maybeLoud", ["a", true, sendB === "while a runs" ? 60 : 0]);
    await until(() => a.started() !== undefined, "a started");
    if (sendB === "after a answered") await until(() => a.rec.spans.some((s) => s.name === "maybeLoud"), "a's answer");
    const b = job("maybeLoud", ["b", false], { behind: 1 });
    setTimeout(() => proc.child.stdout!.resume(), 400);
    const [ra, rb] = await Promise.all([a.outcome, b.outcome]);
    assert.equal(value(ra), "a");
    assert.equal(value(rb), "b");
    assert.equal(rb.pid, ra.pid);
    assert.equal(b.starts(), 1);
    assert.equal(b.rec.spans.filter((s) => s.name === "maybeLoud").length, 1, "b ran once");
    assert.deepEqual(a.rec.lines("stdout"), ["loud a"]);
    assert.deepEqual(b.rec.lines("stdout"), []);
  }

  test("a quiet call sent behind a chatty one starts when that one answers, though its output still drains: it runs once", () => quietBehindChatty("while a runs"));

  test("a call sent after the one ahead answered (its output still draining) starts at once: it runs once", () => quietBehindChatty("after a answered"));

  test("the call ahead times out and its process is killed: the one behind never started and is released", async () => {
    value(await chatty("warm", 0).outcome);
    const a = chatty("a", 60_000, { timeoutMs: 50 });
    await until(() => a.started() !== undefined, "a started");
    const b = chatty("b", 0, { behind: 1 });
    const [ra, rb] = await Promise.all([a.outcome, b.outcome]);
    assert.equal(ra.ok, false);
    assert.equal(!ra.ok && ra.reason, "timeout");
    assert.equal(rb.ok, false);
    assert.equal(!rb.ok && rb.reason, "released");
    assert.match((fromWire(!rb.ok && rb.error) as Error).message, /never started/);
    assert.equal(b.starts(), 0, "the wait behind the killed call was not a start");
    assert.deepEqual(b.rec.lines("stdout"), []);
    assert.equal(pool.stats().processes, 0, "the killed process is gone, nothing held");
  });

  test("the call ahead is killed with several calls behind it: none of them started, each is released", async () => {
    value(await chatty("warm", 0).outcome);
    const a = chatty("a", 60_000, { timeoutMs: 50 });
    await until(() => a.started() !== undefined, "a started");
    const behind = ["b", "c", "d"].map((tag) => chatty(tag, 0, { behind: 3 }));
    const [ra, ...rest] = await Promise.all([a, ...behind].map((x) => x.outcome));
    assert.equal(!ra.ok && ra.reason, "timeout");
    assert.deepEqual(rest.map((r) => !r.ok && r.reason), ["released", "released", "released"]);
    assert.deepEqual(behind.map((x) => x.starts()), [0, 0, 0], "waiting behind the killed call was no start");
    assert.equal(pool.stats().processes, 0, "the killed process is gone, nothing held");
  });

  test("a cancel takes back the call behind; the call ahead and its warm process are untouched", async () => {
    value(await chatty("warm", 0).outcome);
    const a = chatty("a", 80);
    await until(() => a.started() !== undefined, "a started");
    const stop = new AbortController();
    const b = chatty("b", 0, { behind: 1, signal: stop.signal });
    await new Promise((r) => setTimeout(r, 10));
    stop.abort();
    const rb = await b.outcome;
    assert.equal(rb.ok, false);
    assert.equal(!rb.ok && rb.reason, "cancelled");
    assert.equal(b.starts(), 0, "it never started");
    assert.deepEqual(b.rec.lines("stdout"), []);
    const ra = await a.outcome;
    assert.equal(value(ra), "a");
    const c = await chatty("c", 0).outcome;
    assert.equal(c.coldStart, false);
    assert.equal(c.pid, ra.pid, "the process stayed warm");
  });

  test("a call ahead that runs long: the one behind is taken back after a short call's time and released", async () => {
    value(await chatty("warm", 0).outcome);
    const a = chatty("a", 400);
    await until(() => a.started() !== undefined, "a started");
    const b = chatty("b", 0, { behind: 1, behindWaitMs: SHORT_CALL_MS });
    const proc = pool.processes().find((p) => p.key.endsWith("#chatty") && p.alive)!;
    await until(() => proc.callsInFlight === 2, "b sent behind a");
    // Past a short call's length (100 ms) behind `a`, it is no longer in a's process.
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(proc.callsInFlight, 1, "taken back from behind the long call");
    assert.equal(b.starts(), 0);
    const rb = await b.outcome;
    assert.equal(!rb.ok && rb.reason, "released");
    assert.equal(value(await a.outcome), "a");
    // And one that finds no process within a short call's time is released too.
    const c = chatty("c", 400);
    await until(() => c.started() !== undefined, "c started");
    const d = chatty("d", 0, { behind: 1, behindWaitMs: SHORT_CALL_MS });
    const e = chatty("e", 0, { behind: 1, behindWaitMs: SHORT_CALL_MS });
    const [rd, re] = await Promise.all([d.outcome, e.outcome]);
    assert.deepEqual([!rd.ok && rd.reason, !re.ok && re.reason], ["released", "released"]);
    assert.equal(value(await c.outcome), "c");
  });

  // The calls behind are made the moment the call ahead starts, and are in the process one
  // event-loop turn later (no polling, which a loaded machine could delay past the call ahead's end).
  // The call ahead runs long enough (500 ms) to be still running when the test counts them.
  const sent = () => new Promise((r) => setImmediate(r));
  /** Call `a` (500 ms), and the calls `behind` makes the moment it starts; resolves once they are in its process. */
  async function aheadOf<T>(behind: () => T): Promise<{ a: ReturnType<typeof chatty>; made: T }> {
    let made: T | undefined;
    const a = chatty("a", 500, { onStart: () => void (made = behind()) });
    await until(() => made !== undefined, "a started");
    await sent();
    return { a, made: made! };
  }

  test("several calls behind one running call: each starts when the one ahead answers, in order; no more than allowed are sent", async () => {
    value(await chatty("warm", 0).outcome);
    const proc = pool.processes().find((p) => p.key.endsWith("#chatty") && p.alive)!;
    const {
      a,
      made: [behind, e],
    } = await aheadOf(() => [["b", "c", "d"].map((tag) => chatty(tag, 0, { behind: 3 })), /* a fourth finds three waiting already: it waits for room instead of going behind them */ chatty("e", 0, { behind: 3 })] as const);
    assert.equal(proc.callsInFlight, 4, "three calls behind the running one, no fourth");
    const results = await Promise.all([a, ...behind, e].map((x) => x.outcome));
    assert.deepEqual(results.map(value), ["a", "b", "c", "d", "e"]);
    assert.ok(results.every((r) => r.pid === proc.pid), "one process ran them all");
    const starts = [a, ...behind].map((x) => x.started()!);
    for (let i = 1; i < starts.length; i++) assert.ok(starts[i]! >= starts[i - 1]!, `call ${i} started before the one ahead of it`);
    for (const [i, x] of behind.entries()) {
      assert.equal(x.starts(), 1);
      assert.deepEqual(x.rec.lines("stdout"), [`out ${"bcd"[i]} 1`, `out ${"bcd"[i]} 2`, `partial ${"bcd"[i]}`], "each call's output is its own");
    }
  });

  test("a cancel takes back one call from the middle of those behind; the others run in order", async () => {
    value(await chatty("warm", 0).outcome);
    const proc = pool.processes().find((p) => p.key.endsWith("#chatty") && p.alive)!;
    const stop = new AbortController();
    const {
      a,
      made: [b, c, d],
    } = await aheadOf(() => [chatty("b", 0, { behind: 3 }), chatty("c", 0, { behind: 3, signal: stop.signal }), chatty("d", 0, { behind: 3 })] as const);
    assert.equal(proc.callsInFlight, 4, "three calls sent behind a");
    stop.abort();
    const [ra, rb, rc, rd] = await Promise.all([a, b, c, d].map((x) => x.outcome));
    assert.equal(!rc.ok && rc.reason, "cancelled");
    assert.equal(c.starts(), 0, "it never started");
    assert.deepEqual(c.rec.lines("stdout"), []);
    assert.deepEqual([ra, rb, rd].map(value), ["a", "b", "d"]);
    assert.ok(d.started()! >= b.started()!, "d started after b");
  });

  test("a call taken back from the middle whose answer comes in one read with the answer of the call ahead: the call behind it starts, the taken one does not", async () => {
    value(await chatty("warm", 0).outcome);
    const a = chatty("a", 40);
    await until(() => a.started() !== undefined, "a started");
    const t0 = performance.now();
    const stop = new AbortController();
    const b = chatty("b", 0, { behind: 3, signal: stop.signal });
    const c = chatty("c", 30, { behind: 3, timeoutMs: 10_000 });
    await sent();
    stop.abort(); // b is taken back while a runs
    // This side is busy while a answers: the child's `dropped` (b) and a's answer arrive in one read.
    while (performance.now() - t0 < 90);
    const [ra, rb, rc] = await Promise.all([a, b, c].map((x) => x.outcome));
    assert.equal(value(ra), "a");
    assert.equal(!rb.ok && rb.reason, "cancelled");
    assert.equal(b.starts(), 0, "b never started");
    assert.equal(value(rc), "c", "c ran and ended as it did (not released: its run would have gone back to the queue and run again)");
    assert.equal(c.starts(), 1, "c was seen starting (its timeout and cancel apply)");
    assert.deepEqual(c.rec.lines("stdout"), ["out c 1", "out c 2", "partial c"]);
  });

  test("a call behind taken back that its process never ran is released, even when the call ahead seemed to answer first", async () => {
    // A fresh process (its first call is id 1): the call ahead holds the child's thread past a short
    // call's time, so the take-back of the call behind is sent meanwhile; then it answers itself over
    // the channel and goes on running. The child takes the call behind back (still waiting), while
    // this side counted it as started at the call ahead's answer.
    const a = job("answersEarly", [1, 600, 300]);
    await until(() => a.started() !== undefined, "a started");
    const b = job("answersEarly", [0, 0, 0], { behind: 1, behindWaitMs: SHORT_CALL_MS });
    const rb = await b.outcome;
    assert.equal(!rb.ok && rb.reason, "released", `b ended ${JSON.stringify(rb)}`);
    await a.outcome;
    // The process is still good: the next call runs in it.
    const c = await job("answersEarly", [0, 0, 0]).outcome;
    assert.equal(c.ok, true);
  });

  test("a dropped answer nobody asked for (user code writing to the channel) is a crash, not a release", async () => {
    const forge = job("forgeDropped", []);
    const r = await forge.outcome;
    assert.equal(!r.ok && r.reason, "crash", `ended ${JSON.stringify(r)}`);
  });
});
