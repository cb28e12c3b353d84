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

  it("fires held while the control plane was away make one catch-up run; the ones it covers are missed, not replayed", async () => {
    const ws = await store.ensureWorkspace("held-fires");
    const { deployment } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name: "minutely", type: "job", kind: "fn", contentHash: "h-held", lockfileHash: null, manifest: {}, bundleBytes: 1 });
    await scheduler.upsert(deployment, { cron: "* * * * *" });
    const s = (await store.getSchedule(deployment.id))!;
    const restarted = new Scheduler({ config: { defaultMaxRetries: 0, defaultRetryBackoffMs: 1000 }, store, events: new RunEvents(), queue: { enqueue: async () => {}, removeSchedule: async () => {} } } as unknown as PlatformContext);
    const now = Date.now();
    // Held in four delivery slots during a four-minute outage, delivered oldest first once it is back.
    const made = [];
    for (const at of [now - 180_000, now - 120_000, now - 60_000, now - 1_000]) made.push(await restarted.fired(s.id, deployment.id, at));
    assert.ok(made[0], "the first held fire makes the catch-up run");
    assert.deepEqual(made.slice(1, 3), [null, null], "the fires that run covers are not replayed");
    assert.ok(made[3], "a fire due just before (within clock skew) still runs");
    const missed = (await store.listEvents({ deploymentId: deployment.id, kind: "schedule.missed" })).length;
    assert.equal(missed, 2, "each fire not replayed is said");
    // Back to its cadence: a fire that came due after the last run was made runs.
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(await restarted.fired(s.id, deployment.id, Date.now()));
    assert.equal((await store.listRuns({ deploymentId: deployment.id })).length, 3);
  });
});
