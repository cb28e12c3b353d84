// The worker's shared run slots: a FIFO counting semaphore with abortable waits.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Slots } from "../../src/worker/bullmq-slots.ts";

describe("Slots", () => {
  it("hands out at most `size` slots; a release goes to the oldest waiter", async () => {
    const s = new Slots(2);
    const a = s.tryAcquire();
    const b = s.tryAcquire();
    assert.ok(a && b);
    assert.equal(s.tryAcquire(), null);
    assert.equal(s.inUse, 2);
    const order: string[] = [];
    const first = s.acquire().then((r) => (order.push("first"), r));
    const second = s.acquire().then((r) => (order.push("second"), r));
    a();
    a(); // a second release of the same slot does nothing
    const r1 = await first;
    assert.deepEqual(order, ["first"]);
    assert.equal(s.inUse, 2);
    b();
    const r2 = await second;
    assert.deepEqual(order, ["first", "second"]);
    r1!();
    r2!();
    assert.equal(s.inUse, 0);
  });

  it("tryAcquire does not jump the line of waiters", async () => {
    const s = new Slots(1);
    const held = s.tryAcquire()!;
    const waiting = s.acquire();
    held();
    // The freed slot already belongs to the waiter.
    assert.equal(s.tryAcquire(), null);
    (await waiting)!();
    assert.ok(s.tryAcquire());
  });

  it("an aborted wait gets null and leaves the line", async () => {
    const s = new Slots(1);
    const held = s.tryAcquire()!;
    const ac = new AbortController();
    const gone = s.acquire(ac.signal);
    const next = s.acquire();
    ac.abort();
    assert.equal(await gone, null);
    held();
    assert.ok(await next);
    assert.equal(await s.acquire(AbortSignal.abort()), null);
  });

  it("refuses a size below 1", () => {
    assert.throws(() => new Slots(0), /slots must be an integer ≥ 1/);
  });
});
