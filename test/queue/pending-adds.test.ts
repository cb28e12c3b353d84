// Runs whose add to BullMQ failed while Redis was away: added again in the background until it
// answers, never after a cancel, and the store's queued runs are read again once Redis is back.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PendingAdds } from "../../src/platform/queue/pending-adds.ts";
import type { QueueableRun } from "../../src/platform/queue/bullmq-queue.ts";
import { until } from "./_redis.ts";

const run = (id: string): QueueableRun => ({ id, deploymentId: "dep", maxRetries: 0, retryBackoffMs: 100, scheduledFor: null });

/** A fake BullMQ add that fails while `down`. */
function fakeQueue() {
  const state = { down: true, added: [] as string[], tries: 0, scans: 0, logs: [] as string[] };
  const pending = new PendingAdds({
    add: async (runs) => {
      state.tries++;
      if (state.down) throw new Error("Redis at redis://x is unreachable");
      state.added.push(...runs.map((r) => r.id));
    },
    requeueStored: async () => {
      state.scans++;
    },
    log: (m) => state.logs.push(m),
  });
  return { state, pending };
}

describe("PendingAdds", () => {
  it("keeps retrying while Redis is away and adds the runs once it answers; a cancelled run is not added", async () => {
    const { state, pending } = fakeQueue();
    pending.keep([run("a"), run("b"), run("c")], "Redis at redis://x is unreachable");
    assert.equal(pending.forget("b"), true);
    assert.equal(pending.forget("zz"), false);
    await until(() => state.tries >= 3, "a few failed tries");
    assert.deepEqual(state.added, []);
    state.down = false;
    await until(() => pending.size === 0, "the kept runs added");
    assert.deepEqual(state.added.sort(), ["a", "c"]);
    assert.equal(state.logs.length, 2, state.logs.join("\n"));
    assert.match(state.logs[0]!, /stay queued in the store/);
    assert.match(state.logs[1]!, /answers again/);
    await pending.close();
  });

  it("reads the store's queued runs again when Redis is back, and stops at close", async () => {
    const { state, pending } = fakeQueue();
    state.down = false;
    pending.reconnected();
    await until(() => state.scans === 1, "a store scan");
    await pending.close();
    pending.keep([run("late")], "closed");
    pending.reconnected();
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(state.added, []);
    assert.equal(state.scans, 1);
  });
});
