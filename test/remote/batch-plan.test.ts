// How many of a remote map's items one run carries: from the job's retries, what was measured of
// its calls (length, result size) and how many runs are out.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BatchPlan } from "../../src/remote/batch-plan.ts";

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
/** A finished run of `calls` calls that took `ms` in all, each result `value`. */
const run = (calls: number | undefined, ms: number, value: unknown = 1) => ({
  status: "succeeded" as const,
  startedAt: at(0),
  finishedAt: at(ms),
  ...(calls ? { calls } : {}),
  result: calls ? Array.from({ length: calls }, () => ({ ok: true, value })) : value,
});

describe("batch plan", () => {
  it("one call per run for a job that retries, or a platform that does not say", () => {
    for (const maxRetries of [1, 3, undefined]) {
      const plan = new BatchPlan({ maxRetries });
      plan.heard(run(undefined, 0));
      assert.equal(plan.callsPerRun(5_000), 1, String(maxRetries));
    }
  });

  it("before anything is measured: a few calls per run, spread over at least 16 runs", () => {
    const plan = new BatchPlan({ maxRetries: 0 });
    assert.equal(plan.callsPerRun(1), 1);
    assert.equal(plan.callsPerRun(1_000), 8);
    assert.equal(plan.callsPerRun(20), 2, "20 items over 16 runs");
  });

  it("tiny calls fill runs up to 256; with runs already out a small flush is not spread", () => {
    const plan = new BatchPlan({ maxRetries: 0 });
    plan.heard(run(100, 1)); // 0.01 ms a call
    assert.equal(plan.callsPerRun(5_000), 256);
    // Few runs out: 40 items would be 3 a run; tiny calls are never spread below ~1 ms of work a run.
    assert.equal(plan.callsPerRun(40), 100);
    assert.equal(plan.callsPerRun(40, 20), 256, "runs out: the flush is not spread at all");
  });

  it("long calls go one to a run; large results make runs smaller", () => {
    const slow = new BatchPlan({ maxRetries: 0 });
    slow.heard(run(undefined, 1_000));
    assert.equal(slow.callsPerRun(1_000, 50), 1);
    const mid = new BatchPlan({ maxRetries: 0 });
    mid.heard(run(10, 100)); // 10 ms a call
    assert.equal(mid.callsPerRun(1_000, 50), 20, "about 200 ms of work");
    const big = new BatchPlan({ maxRetries: 0 });
    big.heard(run(4, 0, "x".repeat(100_000)));
    assert.equal(big.callsPerRun(1_000, 50), 10, "about 1 MiB of results");
  });

  it("refused by the platform: one call per run from then on", () => {
    const plan = new BatchPlan({ maxRetries: 0 });
    plan.disable();
    assert.equal(plan.callsPerRun(1_000), 1);
  });
});
