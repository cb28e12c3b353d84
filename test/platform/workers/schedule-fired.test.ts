// A schedule's fire delivered by the queue (BullMQ job scheduler) becomes one run at the control
// plane; a fire of a schedule that no longer exists removes its job scheduler instead.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PlatformContext } from "../../../src/platform/context.ts";
import { RunEvents } from "../../../src/platform/run-events.ts";
import { Scheduler } from "../../../src/platform/scheduler.ts";
import { openStore, type Store } from "../../../src/platform/store/index.ts";

describe("schedule fires delivered by the queue", () => {
  let dir: string;
  let store: Store;
  const calls: string[] = [];
  let scheduler: Scheduler;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "nbox-fired-"));
    store = await openStore({ dataDir: dir });
    const queue = {
      kind: "bullmq",
      firesSchedules: true,
      enqueue: async (runs: Array<{ id: string }>) => void calls.push(...runs.map((r) => `enqueue ${r.id}`)),
      upsertSchedule: async (s: { id: string }) => void calls.push(`upsert ${s.id}`),
      removeSchedule: async (id: string) => void calls.push(`remove ${id}`),
    };
    const ctx = { config: { defaultMaxRetries: 0, defaultRetryBackoffMs: 1000 }, store, events: new RunEvents(), queue } as unknown as PlatformContext;
    scheduler = new Scheduler(ctx);
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("one run per fire, however often it is delivered; a fire of a removed schedule removes its job scheduler", async () => {
    const ws = await store.ensureWorkspace("fired");
    const { deployment } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name: "cron", type: "job", kind: "fn", contentHash: "h-fired", lockfileHash: null, manifest: {}, bundleBytes: 1 });
    await scheduler.upsert(deployment, { cron: "0 * * * *" });
    const s = (await store.getSchedule(deployment.id))!;
    assert.deepEqual(calls, [`upsert ${s.id}`], "the queue fires it");
    const at = Date.now() - 60_000; // delivered a minute late
    const run = await scheduler.fired(s.id, deployment.id, at);
    assert.ok(run);
    assert.equal(await scheduler.fired(s.id, deployment.id, at), null, "the same fire again");
    assert.equal((await store.getRun(run))?.scheduleId, s.id);
    assert.deepEqual(calls.slice(1), [`enqueue ${run}`]);

    await store.deleteSchedule(deployment.id); // gone from the store, its job scheduler left behind
    assert.equal(await scheduler.fired(s.id, deployment.id, at + 30_000), null);
    assert.deepEqual(calls.slice(2), [`remove ${s.id}`]);
  });

  const minute = 60_000;
  /** A deployment on a minutely schedule whose first tick owed a run is `owed`. */
  async function minutely(name: string, owed: number) {
    const ws = await store.ensureWorkspace(name);
    const { deployment } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name, type: "job", kind: "fn", contentHash: `h-${name}`, lockfileHash: null, manifest: {}, bundleBytes: 1 });
    const s = await store.upsertSchedule({ deploymentId: deployment.id, cron: "* * * * *", nextTickAt: owed, enabled: true });
    const missed = async () => (await store.listEvents({ deploymentId: deployment.id, kind: "schedule.missed" })).map((e) => e.data as { missed: number; since: string });
    const runs = async () => (await store.listRuns({ deploymentId: deployment.id })).length;
    return { s, deployment, missed, runs, fire: (at: number, now: number) => scheduler.fired(s.id, deployment.id, at, now) };
  }
  // A minute boundary well in the past: every tick below is a real tick of "* * * * *".
  const M = Math.floor(Date.now() / minute) * minute - 60 * minute;

  it("fires held while the control plane was away make one catch-up run; the ticks it stands for are reported once", async () => {
    const { missed, runs, fire } = await minutely("held", M - 3 * minute);
    // Four fires held in delivery slots during the outage, delivered oldest first when it is back at M + 30 s.
    const back = M + 30_000;
    assert.ok(await fire(M - 3 * minute, back), "the first held fire makes the catch-up run");
    for (const at of [M - 2 * minute, M - minute, M]) assert.equal(await fire(at, back + 10), null, "a fire the catch-up run stands for is not replayed");
    assert.deepEqual(await missed(), [{ missed: 3, since: new Date(M - 2 * minute).toISOString() }]);
    assert.ok(await fire(M + minute, M + minute + 5), "back to its cadence");
    assert.equal(await runs(), 2);
    assert.equal((await missed()).length, 1, "nothing more is reported");
  });

  it("ticks the queue never fired (planned only as the last fire is taken) are reported at the next fire", async () => {
    const { missed, runs, fire } = await minutely("gap", M - 3 * minute);
    assert.ok(await fire(M, M + 20), "the next fire after the outage runs");
    assert.deepEqual(await missed(), [{ missed: 3, since: new Date(M - 3 * minute).toISOString() }]);
    assert.equal(await runs(), 1);
  });

  it("a fire delivered a moment late still runs, and so does the next one", async () => {
    const { missed, runs, fire } = await minutely("late", M - minute);
    assert.ok(await fire(M - minute, M + 3_000), "late, but the tick after it came due only 3 s ago: it is on its way");
    assert.ok(await fire(M, M + 3_100));
    assert.deepEqual(await missed(), []);
    assert.equal(await runs(), 2);
  });

  it("fires delivered at once: one run each, one run for a fire delivered twice, nothing reported", async () => {
    const { missed, runs, fire } = await minutely("together", M);
    const made = await Promise.all([fire(M, M + 10), fire(M + minute, M + minute + 10), fire(M + minute, M + minute + 10)]);
    assert.equal(made.filter(Boolean).length, 2, JSON.stringify(made));
    assert.equal(await runs(), 2);
    assert.deepEqual(await missed(), []);
  });

  it("a first fire recorded before the queue's answer to the deploy was written: nothing is reported missed", async () => {
    const { s, deployment, missed, runs, fire } = await minutely("first-race", M - 3 * minute);
    // The deploy (or resume) owes no tick while the queue plans its first fire …
    await store.setScheduleEnabled(deployment.id, true, null);
    assert.ok(await fire(M, M + 10), "the queue's first fire, delivered before its answer was written");
    // … and the answer (that same first fire) is written after the fire was recorded.
    await store.setScheduleEnabled(deployment.id, true, M);
    assert.ok(await fire(M + minute, M + minute + 10));
    assert.deepEqual(await missed(), []);
    assert.equal(await runs(), 2);
    assert.equal((await store.getSchedule(deployment.id))?.id, s.id);
  });

  it("the account survives a restart: a second control plane reports the same ticks, not the first's memory", async () => {
    const { s, deployment, missed, fire } = await minutely("restart", M - 2 * minute);
    assert.ok(await fire(M - 2 * minute, M - 2 * minute + 10));
    const restarted = new Scheduler({ config: { defaultMaxRetries: 0, defaultRetryBackoffMs: 1000 }, store, events: new RunEvents(), queue: { enqueue: async () => {}, removeSchedule: async () => {} } } as unknown as PlatformContext);
    assert.equal(await restarted.fired(s.id, deployment.id, M - 2 * minute, M + 10), null, "already fired");
    assert.ok(await restarted.fired(s.id, deployment.id, M + minute, M + minute + 10));
    assert.deepEqual(await missed(), [{ missed: 2, since: new Date(M - minute).toISOString() }]);
  });
});
