import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { threadId } from "node:worker_threads";
import { MapItemError, Operator } from "../../src/index.ts";
import { LocateError } from "../../src/operator/locate.ts";
import { closePools } from "../../src/operator/pool.ts";
import { Scaler, throwsTyped, whereAmI } from "./fixtures/locate-ops.ts";
import { failsOnOdd, slowSquare } from "./fixtures/ops.ts";

describe("op.map(inputs, { processes }) in worker threads", () => {
  after(() => closePools());

  it("runs items off the main thread, in at most `processes` threads, results in input order", async () => {
    const inputs = Array.from({ length: 10 }, (_, i) => i);
    const res = await whereAmI.map(inputs, { processes: 2 });
    assert.deepEqual(
      res.map((r) => r.x),
      inputs,
    );
    const threads = new Set(res.map((r) => r.threadId));
    assert.ok(!threads.has(threadId), "not on the main thread");
    assert.ok(threads.size >= 1 && threads.size <= 2, `threads: ${[...threads]}`);
    assert.deepEqual(await slowSquare.map([3, 1, 2], { processes: 2 }), [9, 1, 4]);
  });

  it("a failing item rejects with MapItemError carrying the original error's name and message", async () => {
    const err = await failsOnOdd.map([0, 2, 5, 6], { processes: 2 }).then(
      () => assert.fail("should reject"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof MapItemError);
    assert.equal(err.index, 2);
    assert.ok(err.cause instanceof Error);
    assert.equal((err.cause as Error).name, "RangeError");
    assert.equal((err.cause as Error).message, "odd 5");
  });

  it("settle: true has the same shape as in-process map", async () => {
    const res = await throwsTyped.map([1, 2, 3], { processes: 1, settle: true });
    assert.deepEqual(res[0], { ok: true, value: 1 });
    assert.deepEqual(res[2], { ok: true, value: 3 });
    assert.equal(res[1]!.ok, false);
    const e = !res[1]!.ok ? (res[1]!.error as Error) : undefined;
    assert.equal(e?.name, "RangeError");
    assert.equal(e?.message, "bad input 2");
  });

  it("an Operator instance of an exported class is rebuilt in the worker with its fields", async () => {
    const s = new Scaler(3);
    s.offset = 1;
    const local = await s.map([1, 2, 3]);
    assert.deepEqual(await s.map([1, 2, 3], { processes: 2 }), local);
    assert.deepEqual(local, [7, 13, 19]);
  });

  it("onProgress and concurrency work as in-process", async () => {
    const calls: number[] = [];
    const res = await slowSquare.map([1, 2, 3, 4], { processes: 2, concurrency: 1, onProgress: (d) => calls.push(d) });
    assert.deepEqual(res, [1, 4, 9, 16]);
    assert.deepEqual(calls, [1, 2, 3, 4]);
  });

  it("an operator that is not exported cannot go to a worker: LocateError", async () => {
    class NotExported extends Operator {
      forward(x: number) {
        return x;
      }
    }
    await assert.rejects(new NotExported().map([1], { processes: 1 }), LocateError);
  });

  it("two instances of one class with different fields do not share a rebuilt operator in a reused thread", async () => {
    const a = new Scaler(2);
    const b = new Scaler(2);
    b.offset = 100;
    assert.deepEqual(await a.map([1], { processes: 1 }), [4]);
    assert.deepEqual(await b.map([1], { processes: 1 }), [104]);
    assert.deepEqual(await a.map([1], { processes: 1 }), [4]);
  });

  it("an empty input list resolves [] without starting threads", async () => {
    assert.deepEqual(await slowSquare.map([], { processes: 2 }), []);
  });

  it("abort rejects the pooled map", async () => {
    const ac = new AbortController();
    const p = whereAmI.map([1, 2, 3, 4], { processes: 1, concurrency: 1, signal: ac.signal });
    const reason = new Error("cancelled by test");
    ac.abort(reason);
    await assert.rejects(p, (e: unknown) => e === reason);
  });

  it("invalid processes is a RangeError", async () => {
    await assert.rejects(slowSquare.map([1], { processes: -1 }), RangeError);
    await assert.rejects(slowSquare.map([1], { processes: 1.5 }), RangeError);
  });
});
