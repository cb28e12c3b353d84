// How many calls wait behind a running one, and how many attempts a worker executes at once, by the
// pace of recent calls.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_CALLS_BEHIND, SHORT_CALL_MS, callsBehind, executesFor } from "../../src/worker/prefetch.ts";

describe("calls behind a running one", () => {
  it("as many as start within a quarter of a short call at the current pace, at least one, at most the cap", () => {
    assert.equal(callsBehind(undefined), 1, "pace unknown: one, as before any call ended");
    assert.equal(callsBehind(0), MAX_CALLS_BEHIND, "instant calls: the cap");
    assert.equal(callsBehind(0.3), MAX_CALLS_BEHIND);
    assert.equal(callsBehind(5), 5, "5 ms calls: the fifth behind starts after about 25 ms");
    assert.equal(callsBehind(12), 2);
    assert.equal(callsBehind(SHORT_CALL_MS / 4), 1);
    assert.equal(callsBehind(SHORT_CALL_MS - 1), 1, "barely short calls: still one");
    // The last call behind starts well before a call still waiting is taken back (a short call's length).
    for (const ms of [0.5, 1, 2, 3, 7, 10, 20, 30]) assert.ok(callsBehind(ms) * ms <= SHORT_CALL_MS / 4 || callsBehind(ms) === 1, `${ms} ms`);
  });

  it("a worker executes a running call and the calls behind it per slot while calls are short, one per slot otherwise", () => {
    assert.equal(executesFor(2, false, 0.3), 2);
    assert.equal(executesFor(2, true, 0.3), 2 * (1 + MAX_CALLS_BEHIND));
    assert.equal(executesFor(3, true, 12), 3 * 3);
    assert.equal(executesFor(1, true, undefined), 2);
  });
});
