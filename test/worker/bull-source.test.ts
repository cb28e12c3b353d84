// A delivery whose claim the control plane refuses (this worker was declared dead) is delivered
// again a moment later without spending an attempt: with no retries left a failed attempt would end
// the job and leave the run queued in the store with no job to deliver it.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { BullRunQueue } from "../../src/platform/queue/bullmq-queue.ts";
import { BullRunSource } from "../../src/worker/bull-source.ts";
import type { ControlPlane } from "../../src/worker/control-plane.ts";
import type { RunExecutor } from "../../src/worker/run-executor.ts";
import { TEST_REDIS_URL, deleteKeys, freshPrefix, redisSkip, until } from "../queue/_redis.ts";

const skip = await redisSkip();

describe("BullMQ deliveries at the worker", { skip }, () => {
  const prefix = freshPrefix();
  const closers: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of closers.reverse()) await c();
    await deleteKeys(prefix);
  });

  it("a refused claim delivers the job again a moment later, no attempt spent; the next delivery claims it", { timeout: 60_000 }, async () => {
    const queue = new BullRunQueue({ url: TEST_REDIS_URL, prefix });
    closers.push(() => queue.close());
    const claims: string[] = [];
    const source = new BullRunSource({
      cp: {} as ControlPlane,
      me: { id: "wrk_test" },
      executor: { stopping: false } as RunExecutor,
      redisUrl: TEST_REDIS_URL,
      prefix,
      slots: 1,
      leaseMs: 2_000,
      reports: {
        async claim(runIds) {
          claims.push(...runIds);
          if (claims.length === 1) throw new Error("worker wrk_test was declared dead");
          // Finished meanwhile elsewhere: nothing to run, the job ends.
          return { claimed: [], held: [] };
        },
      },
    });
    closers.push(() => source.close());
    source.setDeployments(["dep_claim"]);
    await queue.add([{ id: "run_c1", deploymentId: "dep_claim", maxRetries: 0, retryBackoffMs: 0, scheduledFor: null }]);
    await until(() => claims.length >= 2, "a second delivery after the failed claim");
    assert.deepEqual(claims, ["run_c1", "run_c1"]);
    await until(async () => (await queue.counts("dep_claim")).active === 0 && (await queue.counts("dep_claim")).waiting === 0, "the job settled");
    const counts = await queue.counts("dep_claim");
    assert.equal(counts.failed, 0, "the failed claim did not fail the job");
  });
});
