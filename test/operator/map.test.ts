import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MapItemError, MapThresholdError, Operator, operator, starMap } from "../../src/index.ts";
import { Doubler, failsOnOdd, foo, slowSquare } from "./fixtures/ops.ts";

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}
function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
/** Let queued promise callbacks (and the next launches) run. */
const flush = () => new Promise((r) => setImmediate(r));

/**
 * An operator whose item `i` finishes only when the test says so: records launches and
 * the number of items in flight.
 */
class Gate extends Operator {
  gates = new Map<number, Deferred<void>>();
  launched: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  gate(i: number) {
    let d = this.gates.get(i);
    if (!d) this.gates.set(i, (d = deferred()));
    return d;
  }
  async forward(i: number): Promise<string> {
    this.launched.push(i);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await this.gate(i).promise;
      return `r${i}`;
    } finally {
      this.inFlight--;
    }
  }
  open(i: number, err?: unknown) {
    if (err === undefined) this.gate(i).resolve();
    else this.gate(i).reject(err);
  }
}

describe("op.map", () => {
  it("one call per input, results in input order", async () => {
    assert.deepEqual(await new Doubler(3).map([1, 2, 3]), [3, 6, 9]);
    assert.deepEqual(await foo.map([1, 2, 3, 4]), [1, 4, 9, 16]);
    assert.deepEqual(await slowSquare.map(new Set([5, 6])), [25, 36], "any iterable");
    assert.deepEqual(await foo.map([]), []);
  });

  it("results stay in input order when later items finish first", async () => {
    const g = new Gate();
    const p = g.map([0, 1, 2, 3]);
    await flush();
    for (const i of [3, 1, 2, 0]) {
      g.open(i);
      await flush();
    }
    assert.deepEqual(await p, ["r0", "r1", "r2", "r3"]);
  });

  it("unbounded by default: every item starts at once", async () => {
    const g = new Gate();
    const p = g.map([0, 1, 2, 3, 4]);
    await flush();
    assert.equal(g.inFlight, 5);
    for (let i = 0; i < 5; i++) g.open(i);
    await p;
  });

  it("respects the concurrency bound and keeps the pipeline full", async () => {
    const g = new Gate();
    const n = 7;
    const p = g.map(
      Array.from({ length: n }, (_, i) => i),
      { concurrency: 2 },
    );
    await flush();
    assert.deepEqual(g.launched, [0, 1]);
    // Finish out of order: each finish admits exactly one new item.
    g.open(1);
    await flush();
    assert.deepEqual(g.launched, [0, 1, 2]);
    assert.equal(g.inFlight, 2);
    for (const i of [0, 3, 2, 5, 4, 6]) {
      g.open(i);
      await flush();
      assert.ok(g.inFlight <= 2);
    }
    assert.deepEqual(await p, ["r0", "r1", "r2", "r3", "r4", "r5", "r6"]);
    assert.equal(g.maxInFlight, 2);
  });

  it("concurrency: 1 runs items strictly one after another", async () => {
    let inFlight = 0;
    let max = 0;
    const op = operator(async function oneAtATime(x: number) {
      max = Math.max(max, ++inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      return x;
    });
    assert.deepEqual(await op.map([1, 2, 3, 4], { concurrency: 1 }), [1, 2, 3, 4]);
    assert.equal(max, 1);
  });

  it("rejects invalid concurrency and ratio (as a rejection, not a throw)", async () => {
    for (const concurrency of [0, -1, 1.5, Number.NaN]) {
      await assert.rejects(foo.map([1], { concurrency }), RangeError);
    }
    await assert.rejects(foo.map([1], { settle: true, minSuccessRatio: 1.5 }), RangeError);
  });

  it("a failed item without settle rejects with MapItemError naming the index, cause = original error", async () => {
    const err = await failsOnOdd.map([0, 2, 3, 4]).then(
      () => assert.fail("should reject"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof MapItemError);
    assert.ok(err instanceof Error);
    assert.equal(err.name, "MapItemError");
    assert.equal(err.index, 2);
    assert.ok(err.cause instanceof RangeError);
    assert.equal((err.cause as Error).message, "odd 3");
    assert.match(err.message, /item 2/);
    assert.match(err.message, /RangeError: odd 3/);
  });

  it("the first failure rejects at once, without waiting for slow items", async () => {
    const g = new Gate();
    const p = g.map([0, 1, 2]);
    await flush();
    g.open(1, new Error("boom"));
    await assert.rejects(p, (e: unknown) => e instanceof MapItemError && e.index === 1);
    g.open(0);
    g.open(2);
  });

  it("many failing items (thrown at once or rejected later) reject the map once, with no unhandled rejection", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      // Items 1 and 3 throw synchronously, 4 and 5 reject later; the map rejects for the first (1).
      const mixed = operator(function mixed(i: number): number | Promise<number> {
        if (i === 1 || i === 3) throw new RangeError(`sync ${i}`);
        if (i >= 4) return new Promise((_, reject) => setTimeout(() => reject(new Error(`async ${i}`)), 5));
        return i * 10; // a plain value: no promise at all
      });
      await assert.rejects(mixed.map([0, 1, 2, 3, 4, 5]), (e: unknown) => e instanceof MapItemError && e.index === 1 && (e.cause as Error).message === "sync 1");
      // Items that fail later, in an order the test sets (timers could fire together on a busy machine).
      const gates = [0, 1, 2].map(() => {
        let open!: () => void;
        const opened = new Promise<void>((resolve) => (open = resolve));
        return { opened, open };
      });
      const late = operator(async function late(i: number) {
        await gates[i]!.opened;
        throw new Error(`late ${i}`);
      });
      const lateMap = late.map([0, 1, 2]);
      gates[0]!.open();
      await assert.rejects(lateMap, (e: unknown) => e instanceof MapItemError && e.index === 0);
      for (const g of gates) g.open();
      assert.deepEqual(await mixed.map([0, 2]), [0, 20], "plain values come back in order");
      await new Promise((resolve) => setTimeout(resolve, 50)); // the later failures have all settled
      assert.deepEqual(unhandled, []);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  it("settle: true resolves every item as { ok, value } | { ok, error }", async () => {
    const res = await failsOnOdd.map([0, 1, 2, 3], { settle: true });
    assert.equal(res.length, 4);
    assert.deepEqual(res[0], { ok: true, value: 0 });
    assert.deepEqual(res[2], { ok: true, value: 2 });
    for (const i of [1, 3]) {
      const r = res[i]!;
      assert.equal(r.ok, false);
      assert.ok(!r.ok && r.error instanceof RangeError);
      assert.equal(!r.ok && (r.error as Error).message, `odd ${i}`);
    }
    assert.deepEqual(Object.keys(res[0]!).sort(), ["ok", "value"]);
    assert.deepEqual(Object.keys(res[1]!).sort(), ["error", "ok"]);
  });

  it("minSuccessRatio needs settle", async () => {
    await assert.rejects(foo.map([1, 2], { minSuccessRatio: 0.5 }), (e: unknown) => e instanceof TypeError && /settle/.test(e.message));
  });

  it("minSuccessRatio rejects early with MapThresholdError once the ratio is out of reach", async () => {
    const g = new Gate();
    // 4 items, need 3 successes: the 2nd failure makes that impossible.
    const p = g.map([0, 1, 2, 3], { settle: true, minSuccessRatio: 0.75 });
    await flush();
    g.open(0, new Error("f0"));
    await flush();
    g.open(2, new Error("f2"));
    const err = await p.then(
      () => assert.fail("should reject"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof MapThresholdError);
    assert.equal(err.name, "MapThresholdError");
    assert.equal(err.failed, 2);
    assert.equal(err.total, 4);
    assert.equal(err.minSuccessRatio, 0.75);
    assert.deepEqual(err.results[0], { ok: false, error: new Error("f0") });
    assert.equal(err.results[1], undefined, "item 1 had not finished");
    assert.match(err.message, /minSuccessRatio 0\.75/);
    g.open(1);
    g.open(3);
  });

  it("minSuccessRatio met: resolves with the settled results", async () => {
    const res = await failsOnOdd.map([0, 1, 2, 4], { settle: true, minSuccessRatio: 0.75 });
    assert.deepEqual(
      res.map((r) => r.ok),
      [true, false, true, true],
    );
    const all = await failsOnOdd.map([1, 3], { settle: true, minSuccessRatio: 0 });
    assert.equal(all.length, 2);
    await assert.rejects(failsOnOdd.map([0, 1], { settle: true, minSuccessRatio: 1 }), MapThresholdError);
  });

  it("onProgress(done, total) is called once per item with increasing done up to total", async () => {
    const calls: Array<[number, number]> = [];
    await failsOnOdd.map([0, 1, 2, 3, 4], { settle: true, onProgress: (d, t) => calls.push([d, t]) });
    assert.deepEqual(calls, [
      [1, 5],
      [2, 5],
      [3, 5],
      [4, 5],
      [5, 5],
    ]);
  });

  it("a throwing onProgress rejects the map (no unhandled rejection, no hang)", async () => {
    await assert.rejects(
      foo.map([1, 2], {
        onProgress: () => {
          throw new Error("progress broke");
        },
      }),
      /progress broke/,
    );
  });

  it("signal: abort rejects promptly and stops launching new items", async () => {
    const g = new Gate();
    const ac = new AbortController();
    const p = g.map([0, 1, 2, 3], { concurrency: 1, signal: ac.signal });
    await flush();
    assert.deepEqual(g.launched, [0]);
    const reason = new Error("stop now");
    ac.abort(reason);
    await assert.rejects(p, (e: unknown) => e === reason);
    // The in-flight item finishing must not launch the rest.
    g.open(0);
    await flush();
    await flush();
    assert.deepEqual(g.launched, [0]);
  });

  it("signal: abort without a reason rejects with an AbortError", async () => {
    const g = new Gate();
    const ac = new AbortController();
    const p = g.map([0], { signal: ac.signal });
    await flush();
    ac.abort();
    await assert.rejects(p, (e: unknown) => e instanceof Error && e.name === "AbortError");
    g.open(0);
  });

  it("signal already aborted: rejects without running anything", async () => {
    const g = new Gate();
    await assert.rejects(g.map([0, 1], { signal: AbortSignal.abort() }), (e: unknown) => (e as Error).name === "AbortError");
    assert.deepEqual(g.launched, []);
  });

  it("abort after completion changes nothing", async () => {
    const ac = new AbortController();
    assert.deepEqual(await foo.map([2], { signal: ac.signal }), [4]);
    ac.abort();
  });
});

describe("starMap", () => {
  const add = operator(function add(a: number, b: number) {
    return a + b;
  });
  const neg = operator(async function neg(a: number) {
    return -a;
  });

  it("free starMap: different operators with different arguments, results in order", async () => {
    assert.deepEqual(
      await starMap([
        [add, [1, 2]],
        [neg, [5]],
        [new Doubler(4), [2]],
        [foo, []],
      ]),
      [3, -5, 8, 16],
    );
  });

  it("op.starMap is the same fan-out", async () => {
    assert.deepEqual(
      await add.starMap([
        [add, [10, 20]],
        [neg, [1]],
      ]),
      [30, -1],
    );
  });

  it("shares map's options: settle, concurrency, MapItemError", async () => {
    const settled = await starMap(
      [
        [failsOnOdd, [1]],
        [add, [1, 1]],
      ],
      { settle: true, concurrency: 1 },
    );
    assert.equal(settled[0]!.ok, false);
    assert.deepEqual(settled[1], { ok: true, value: 2 });
    await assert.rejects(
      starMap([
        [add, [1, 1]],
        [failsOnOdd, [3]],
      ]),
      (e: unknown) => e instanceof MapItemError && e.index === 1 && e.cause instanceof RangeError,
    );
  });

  it("rejects malformed entries and { processes } with a TypeError (a rejection, never a sync throw)", async () => {
    const bad = [[add, 1]] as unknown as Parameters<typeof starMap>[0];
    let p: Promise<unknown> | undefined;
    assert.doesNotThrow(() => {
      p = starMap(bad);
    });
    await assert.rejects(p!, (e: unknown) => e instanceof TypeError && /entry 0/.test(e.message));
    await assert.rejects(starMap([[add, [1, 2]]], { processes: 2 }), TypeError);
    await assert.rejects(starMap([[add, [1, 2]]], { minSuccessRatio: 0.5 }), TypeError);
  });
});
