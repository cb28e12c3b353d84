import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fromWire, toWire } from "../../../src/codec/index.ts";
import { PoolClosedError, ProcessPool, executeCall, type CallOutcome, type SpawnInfo } from "../../../src/worker/jobs/index.ts";
import { OPS } from "./ops-fixture.ts";
import { runId, tempProject, type TempProject } from "./_project.ts";

let project: TempProject;
let pool: ProcessPool | undefined;

before(async () => {
  project = await tempProject(OPS);
});
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});
after(async () => {
  await project.cleanup();
});

const spawnInfo = (name: string): SpawnInfo => ({ bundleDir: project.dir, locator: project.locator(name) });

function call(p: ProcessPool, key: string, name: string, args: unknown[], o: { behind?: number } = {}): Promise<CallOutcome> {
  return executeCall(p, { key, bundleDir: project.dir, locator: project.locator(name), runId: runId(), args: args.map((a) => toWire(a)), ...o });
}

function ok(r: CallOutcome): unknown {
  if (!r.ok) assert.fail(`call failed (${r.reason}): ${(fromWire(r.error) as Error).message}`);
  return fromWire(r.value);
}

/** Highest number of live processes seen while `fn` runs. */
async function peakProcesses<T>(p: ProcessPool, fn: () => Promise<T>): Promise<{ peak: number; result: T }> {
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, p.stats().processes)), 2);
  try {
    const result = await fn();
    return { peak: Math.max(peak, p.stats().processes), result };
  } finally {
    clearInterval(timer);
  }
}

describe("ProcessPool", () => {
  test("a call allowed behind a busy process takes the slot of an idle process of another key instead", async () => {
    const p = (pool = new ProcessPool({ slots: 2 }));
    ok(await call(p, "A", "whoami", [])); // A's process is idle now, holding the second slot
    const long = call(p, "B", "sleep", [1500]);
    const isRunning = () => p.processes().some((x) => x.key === "B" && x.state === "ready" && x.callsInFlight === 1);
    for (const deadline = Date.now() + 20_000; !isRunning(); await sleep(5)) if (Date.now() > deadline) assert.fail("B's call did not start");
    const got = await p.acquire("B", spawnInfo("sleep"), { behind: 1, waitMs: 10_000 });
    assert.equal(got.callsInFlight, 0, "its own process, not a place behind the running call (which may run long)");
    assert.deepEqual(p.processes().map((x) => x.key).sort(), ["B", "B"], "A's idle process gave up its slot");
    p.release(got);
    assert.equal(ok(await long), "slept");
  });

  test("calls allowed behind busy processes of their key are spread over them, the least loaded first", async () => {
    const p = (pool = new ProcessPool({ slots: 2 }));
    // Two warm processes of B first (two calls at once), so the two calls ahead start at once.
    (await Promise.all([call(p, "B", "sleep", [200]), call(p, "B", "sleep", [200])])).forEach(ok);
    // Each call behind is taken back if it has not started 100 ms after it was sent: the calls ahead
    // run 50 ms, which leaves the test as long to send both behind them as it leaves a loaded machine
    // to start them.
    const ahead = [call(p, "B", "sleep", [50]), call(p, "B", "sleep", [50])];
    const inFlight = (n: number) => p.processes().filter((x) => x.key === "B" && x.state === "ready" && x.callsInFlight === n).length;
    for (const deadline = Date.now() + 20_000; inFlight(1) < 2; await sleep(1)) if (Date.now() > deadline) assert.fail("B's calls did not start");
    // Room for several behind either running call: once the first is sent behind one of them, the
    // second goes behind the other one (fewer calls), not behind the first.
    const first = call(p, "B", "sleep", [0], { behind: 4 });
    for (const deadline = Date.now() + 20_000; inFlight(2) < 1; await sleep(1)) if (Date.now() > deadline) assert.fail("the first call behind was not sent");
    const behind = [first, call(p, "B", "sleep", [0], { behind: 4 })];
    const results = await Promise.all([...ahead, ...behind]);
    assert.deepEqual(results.map(ok), ["slept", "slept", "slept", "slept"]);
    assert.notEqual(results[2]!.pid, results[3]!.pid, "the two calls behind ran in different processes");
  });

  test("one slot, two keys: the second key waits, then evicts the idle process of the first", async () => {
    const p = (pool = new ProcessPool({ slots: 1 }));
    const done: string[] = [];
    const { peak, result } = await peakProcesses(p, () =>
      Promise.all([
        call(p, "A", "sleep", [300]).then((r) => (done.push("A"), r)),
        call(p, "B", "whoami", []).then((r) => (done.push("B"), r)),
      ]),
    );
    const [a, b] = result;
    assert.equal(ok(a), "slept");
    assert.equal(ok(b), b.pid);
    assert.equal(peak, 1, "never more than one live process");
    assert.deepEqual(done, ["A", "B"]);
    assert.notEqual(a.pid, b.pid);
    assert.deepEqual(p.processes().map((x) => x.key), ["B"], "A was evicted for B");
  });

  test("two slots, two keys, several calls each: at most two processes, warm ones reused per key", async () => {
    const p = (pool = new ProcessPool({ slots: 2 }));
    // One warm process per key first: which cold start finishes first must not decide what is reused.
    await Promise.all([call(p, "A", "addLater", [0, 0]), call(p, "B", "addLater", [0, 0])]);
    const { peak, result } = await peakProcesses(p, () =>
      Promise.all([
        call(p, "A", "addLater", [1, 1]),
        call(p, "B", "addLater", [2, 2]),
        call(p, "A", "addLater", [3, 3]),
        call(p, "B", "addLater", [4, 4]),
        call(p, "A", "addLater", [5, 5]),
      ]),
    );
    assert.deepEqual(result.map(ok), [2, 4, 6, 8, 10]);
    assert.ok(peak <= 2, `peak ${peak}`);
    assert.ok(result.filter((r) => !r.coldStart).length >= 2, "the first call of each key was served warm");
  });

  test("maxProcessesPerKey: calls of one key share its process without blocking other keys", async () => {
    const p = (pool = new ProcessPool({ slots: 3, maxProcessesPerKey: 1 }));
    const [a1, a2, b] = await Promise.all([call(p, "A", "whoami", []), call(p, "A", "whoami", []), call(p, "B", "whoami", [])]);
    assert.equal(ok(a1), ok(a2), "the second A call waited for the first A process");
    assert.notEqual(ok(b), ok(a1));
  });

  test("waiting acquirers are served first come, first served", async () => {
    const p = (pool = new ProcessPool({ slots: 1 }));
    const first = await p.acquire("A", spawnInfo("square"));
    assert.equal((await first.loaded).ok, true);
    const order: number[] = [];
    const waits = [1, 2, 3].map((i) =>
      p.acquire("A", spawnInfo("square")).then((proc) => {
        order.push(i);
        assert.equal(proc, first, "the warm process is handed over");
        setImmediate(() => p.release(proc));
      }),
    );
    p.release(first);
    await Promise.all(waits);
    assert.deepEqual(order, [1, 2, 3]);
  });

  test("an abandoned acquire (AbortSignal) leaves the queue", async () => {
    const p = (pool = new ProcessPool({ slots: 1 }));
    const held = await p.acquire("A", spawnInfo("square"));
    const ac = new AbortController();
    const waiting = p.acquire("A", spawnInfo("square"), { signal: ac.signal });
    assert.equal(p.stats().waiting, 1);
    ac.abort();
    await assert.rejects(waiting, { name: "AbortError" });
    assert.equal(p.stats().waiting, 0);
    await p.kill(held, "test");
  });

  test("waitMs: an acquire that has to wait gives up after it (TimeoutError) and leaves the queue; one served at once is not limited", async () => {
    const p = (pool = new ProcessPool({ slots: 1 }));
    const first = await p.acquire("A", spawnInfo("square"));
    await first.loaded;
    p.release(first);
    // Served at once from the idle process: no wait timer is set (the idle timer is unref'd and not
    // counted; a wait timer would be).
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timers();
    const held = await p.acquire("A", spawnInfo("square"), { waitMs: 20 });
    assert.equal(held, first);
    assert.equal(timers(), before, "an acquire served at once left a timer behind");
    const waiting = p.acquire("A", spawnInfo("square"), { waitMs: 50 });
    assert.equal(p.stats().waiting, 1);
    const t0 = performance.now();
    await assert.rejects(waiting, { name: "TimeoutError" });
    assert.ok(performance.now() - t0 >= 40, "gave up only after its wait");
    assert.equal(p.stats().waiting, 0);
    // The slot freed later goes to nobody (the gone waiter does not take it): the process idles.
    p.release(held);
    assert.equal(p.stats().idle, 1);
    await p.kill(held, "test");
  });

  test("idle processes stop after idleMs", async () => {
    const p = (pool = new ProcessPool({ slots: 1, idleMs: 100 }));
    ok(await call(p, "A", "square", [2]));
    assert.equal(p.stats().idle, 1);
    for (let i = 0; i < 100 && p.stats().processes > 0; i++) await sleep(20);
    assert.equal(p.stats().processes, 0);
  });

  test("close() kills every process and rejects waiters", async () => {
    const p = new ProcessPool({ slots: 1 });
    const held = await p.acquire("A", spawnInfo("square"));
    const waiting = assert.rejects(p.acquire("B", spawnInfo("square")), PoolClosedError);
    await p.close();
    await waiting;
    assert.equal(held.state, "exited");
    assert.equal(p.stats().processes, 0);
    await assert.rejects(p.acquire("A", spawnInfo("square")), PoolClosedError);
  });

  test("rejects nonsense options", () => {
    assert.throws(() => new ProcessPool({ slots: 0 }), RangeError);
    assert.throws(() => new ProcessPool({ maxProcessesPerKey: 0 }), RangeError);
  });
});
