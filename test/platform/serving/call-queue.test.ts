import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CallQueue, CallTimeoutError } from "../../../src/worker/runtime/call-queue.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("CallQueue", () => {
  it("runs calls one at a time in arrival order", async () => {
    const q = new CallQueue(1);
    const log: string[] = [];
    const job = (name: string, ms: number) => q.run(async () => {
      log.push(`start ${name}`);
      await sleep(ms);
      log.push(`end ${name}`);
      return name;
    });
    assert.deepEqual(await Promise.all([job("a", 20), job("b", 1), job("c", 5)]), ["a", "b", "c"]);
    assert.deepEqual(log, ["start a", "end a", "start b", "end b", "start c", "end c"]);
  });

  it("limit n runs n at once; 0 means no limit", async () => {
    for (const [limit, want] of [[3, 3], [0, 10]] as const) {
      const q = new CallQueue(limit);
      let active = 0;
      let peak = 0;
      await Promise.all(Array.from({ length: 10 }, () => q.run(async () => {
        peak = Math.max(peak, ++active);
        await sleep(10);
        active--;
      })));
      assert.equal(peak, want);
    }
  });

  it("a timed-out call rejects with CallTimeoutError and frees its slot for the next call", async () => {
    const q = new CallQueue(1);
    const hung = q.run(() => new Promise(() => {}), { timeoutMs: 30, label: "hang()" });
    const next = q.run(() => "next");
    await assert.rejects(hung, (e: unknown) => e instanceof CallTimeoutError && e.name === "TimeoutError" && /hang\(\) did not finish within 30 ms/.test((e as Error).message));
    assert.equal(await next, "next");
  });

  it("errors (sync and async) reject the call and release the slot", async () => {
    const q = new CallQueue(1);
    await assert.rejects(q.run(() => { throw new RangeError("sync"); }), RangeError);
    await assert.rejects(q.run(async () => { throw new TypeError("async"); }), TypeError);
    assert.equal(await q.run(() => 1), 1);
  });
});
