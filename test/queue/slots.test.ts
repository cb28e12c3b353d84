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

  it("mayKeep: a held slot may go on to its holder's next task unless someone else waits or the pool shrank", async () => {
    const s = new Slots(2);
    const me = {};
    const mine = s.tryAcquire()!;
    const other = s.tryAcquire()!;
    assert.equal(s.mayKeep(me), true, "nobody waits");
    const ownWait = s.acquire(undefined, me);
    assert.equal(s.mayKeep(me), true, "only the holder itself waits");
    const theirs = s.acquire(undefined, "someone else");
    assert.equal(s.mayKeep(me), false, "another waits: the slot goes back to the line");
    other();
    const second = (await ownWait)!;
    assert.equal(s.mayKeep(me), false, "the other still waits");
    second();
    (await theirs)!();
    assert.equal(s.mayKeep(me), true, "the other waiter was served");
    const again = s.tryAcquire()!;
    s.resize(1);
    assert.equal(s.mayKeep(me), false, "2 slots taken of 1 left: they come back");
    again();
    assert.equal(s.mayKeep(me), true, "1 taken of 1");
    mine();
  });

  it("refuses a size below 1", () => {
    assert.throws(() => new Slots(0), /slots must be an integer ≥ 1/);
  });
});
