// A pause on a long-lived signal: it ends early on abort and leaves no listener behind.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { sleepUnless } from "../../src/lib/pause.ts";

describe("sleepUnless", () => {
  it("a thousand pauses that run out leave no listener on the signal", async () => {
    const life = new AbortController();
    for (let i = 0; i < 1000; i++) await sleepUnless(0, life.signal);
    assert.equal(getEventListeners(life.signal, "abort").length, 0);
  });

  it("ends at once when the signal aborts, and right away when it already has", async () => {
    const life = new AbortController();
    const t0 = Date.now();
    const paused = sleepUnless(60_000, life.signal);
    life.abort();
    await paused;
    await sleepUnless(60_000, life.signal);
    assert.ok(Date.now() - t0 < 30_000, "it did not wait out the pause");
    assert.equal(getEventListeners(life.signal, "abort").length, 0);
  });
});
