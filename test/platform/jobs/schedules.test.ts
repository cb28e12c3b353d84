// End to end: cron schedules fire runs, a bad cron is a clear 400 at deploy, missed ticks are
// reported once and not replayed.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Scheduler } from "../../../src/platform/scheduler.ts";
import { eventually, importProject, startTestPlatform, wsName, type TestPlatform } from "./_helpers.ts";

describe("jobs e2e: schedules", () => {
  let tp: TestPlatform;
  let mod: any;
  before(async () => {
    tp = await startTestPlatform();
    ({ mod } = await importProject("basic"));
  });
  after(async () => {
    await tp?.close();
  });

  it("a every-second cron fires runs that carry the schedule id", async () => {
    const ws = wsName("cron");
    const remote = await mod.crash.deploy(ws, { client: tp.client, name: "ticker", schedule: { cron: "* * * * * *" } });
    const store = tp.platform.ctx.store;
    const schedule = await store.getSchedule(remote.deployment.id);
    assert.ok(schedule, "the deploy registered a schedule");
    assert.equal(schedule.cron, "* * * * * *");
    const runs = await eventually(
      async () => {
        const rows = await store.listRuns({ deploymentId: remote.deployment.id, status: "succeeded" });
        return rows.length > 0 ? rows : undefined;
      },
      30_000,
      "a scheduled run to succeed",
    );
    assert.equal(runs[0]!.scheduleId, schedule.id);
    assert.equal(runs[0]!.result !== null, true);
    // The API lists it as a run of the deployment, and the schedule is listed.
    const listed = await tp.api("GET", `/runs?workspace=${ws}&deployment=ticker`);
    assert.equal(listed.status, 200);
    assert.ok(listed.json.runs.some((r: any) => r.id === runs[0]!.id));
    const schedules = await tp.api("GET", "/schedules");
    assert.ok(schedules.json.schedules.some((s: any) => s.deploymentId === remote.deployment.id));
    // Stop it ticking for the rest of the file.
    await store.setScheduleEnabled(remote.deployment.id, false);
  });

  it("redeploying without a schedule removes it; with another cron replaces it", async () => {
    const ws = wsName("resched");
    const store = tp.platform.ctx.store;
    const first = await mod.crash.deploy(ws, { client: tp.client, name: "resched", schedule: { cron: "0 0 1 1 *" } });
    assert.equal((await store.getSchedule(first.deployment.id))?.cron, "0 0 1 1 *");
    await mod.crash.deploy(ws, { client: tp.client, name: "resched", schedule: { cron: "0 12 * * *" } });
    assert.equal((await store.getSchedule(first.deployment.id))?.cron, "0 12 * * *");
    await mod.crash.deploy(ws, { client: tp.client, name: "resched" });
    assert.equal(await store.getSchedule(first.deployment.id), null);
  });

  it("pause stops the fires (also across a redeploy); resume fires again from the next tick, with no backlog", async () => {
    const ws = wsName("pause");
    const store = tp.platform.ctx.store;
    const remote = await mod.crash.deploy(ws, { client: tp.client, name: "pausing", schedule: { cron: "* * * * * *" } });
    const runsOf = async () => (await store.listRuns({ deploymentId: remote.deployment.id })).length;
    await eventually(async () => (await runsOf()) > 0, 30_000, "a first fire");

    const paused = await tp.api("POST", `/workspaces/${ws}/deployments/pausing/schedule`, { enabled: false });
    assert.equal(paused.status, 200, JSON.stringify(paused.json));
    assert.deepEqual([paused.json.schedule.enabled, paused.json.schedule.deployment, paused.json.schedule.workspace], [false, "pausing", ws]);
    await new Promise((r) => setTimeout(r, 1_500)); // a fire under way at the pause may still land
    const atPause = await runsOf();
    // A redeploy of the same job with its schedule keeps it paused.
    await mod.crash.deploy(ws, { client: tp.client, name: "pausing", schedule: { cron: "* * * * * *" } });
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(await runsOf(), atPause, "no fire while paused");
    const listed = await tp.api("GET", `/schedules?workspace=${ws}`);
    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.json.schedules.map((s: any) => [s.deployment, s.workspace, s.cron, s.enabled]),
      [["pausing", ws, "* * * * * *", false]],
    );

    const resumedAt = Date.now();
    const resumed = await tp.api("POST", `/workspaces/${ws}/deployments/pausing/schedule`, { enabled: true });
    assert.equal(resumed.status, 200, JSON.stringify(resumed.json));
    assert.equal(resumed.json.schedule.enabled, true);
    assert.ok(Date.parse(resumed.json.schedule.nextTickAt) > resumedAt - 1_000, "the next tick is after the resume, not one from the pause");
    // Times are ISO strings, as everywhere in the API (runs, logs, workers).
    for (const k of ["nextTickAt", "createdAt", "updatedAt"]) assert.match(resumed.json.schedule[k], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, k);
    await eventually(async () => (await runsOf()) > atPause, 30_000, "a fire after the resume");
    const missed = (await store.listEvents({ kind: "schedule.missed" })).filter((e) => e.deploymentId === remote.deployment.id);
    assert.deepEqual(missed, [], "the paused time is not reported as missed ticks");
    await tp.api("POST", `/workspaces/${ws}/deployments/pausing/schedule`, { enabled: false });
  });

  it("pausing a job without a schedule is a 404 saying so; another workspace's token gets 403", async () => {
    const ws = wsName("nosched");
    await mod.crash.deploy(ws, { client: tp.client, name: "plain" });
    const none = await tp.api("POST", `/workspaces/${ws}/deployments/plain/schedule`, { enabled: false });
    assert.equal(none.status, 404);
    assert.match(none.json.error.message, /has no schedule/);
    assert.equal((await tp.api("POST", `/workspaces/${ws}/deployments/nope/schedule`, { enabled: false })).status, 404);
    assert.equal((await tp.api("POST", `/workspaces/${ws}/deployments/plain/schedule`, { enabled: "no" })).status, 400);
    const other = (await tp.api("POST", "/tokens", { workspace: wsName("other") })).json.secret;
    const res = await fetch(`${tp.url}/api/v1/workspaces/${ws}/deployments/plain/schedule`, {
      method: "POST",
      headers: { authorization: `Bearer ${other}`, "content-type": "application/json" },
      body: JSON.stringify({ enabled: false }),
    });
    assert.equal(res.status, 403);
    const mine = await fetch(`${tp.url}/api/v1/schedules?workspace=${ws}`, { headers: { authorization: `Bearer ${other}` } });
    assert.equal(mine.status, 403, "another workspace's schedules are not listed to it");
  });

  it("a bad cron is a clear 400 at deploy, and registers nothing", async () => {
    const ws = wsName("badcron");
    await assert.rejects(mod.crash.deploy(ws, { client: tp.client, name: "badcron", schedule: { cron: "every tuesday" } }), (e: any) => {
      assert.equal(e.code, "BAD_REQUEST");
      assert.match(e.message, /cron/);
      assert.match(e.message, /every tuesday/);
      return true;
    });
    const got = await tp.api("GET", `/workspaces/${ws}/deployments/badcron`);
    assert.equal(got.status, 404, `no half-made deployment: ${JSON.stringify(got.json)}`);
    // Raw API: same 400.
    const bad = await tp.api("POST", `/workspaces/${ws}/deployments`, { manifest: { nope: 1 } });
    assert.equal(bad.status, 400);
  });

  it("missed ticks: one schedule.missed event and exactly one run, not one per missed tick", async () => {
    const ws = wsName("missed");
    const remote = await mod.crash.deploy(ws, { client: tp.client, name: "missed", schedule: { cron: "0 0 1 1 *" } });
    const ctx = tp.platform.ctx;
    // Every minute, due one hour ahead (so the platform's own scheduler leaves it alone); we tick
    // 5.5 minutes past that: the due tick fires once, the 5 after it were missed.
    const minute = 60_000;
    const due = Math.ceil((Date.now() + 3600_000) / minute) * minute;
    await ctx.store.upsertSchedule({ deploymentId: remote.deployment.id, cron: "* * * * *", nextTickAt: due, enabled: true });
    const now = due + 5 * minute + 30_000;

    const a = new Scheduler(ctx);
    const b = new Scheduler(ctx); // a second node racing for the same tick
    const fired = (await Promise.all([a.tick(now), b.tick(now)])).reduce((x, y) => x + y, 0);
    assert.equal(fired, 1);
    assert.equal(await a.tick(now), 0, "nothing more is due");

    const runs = await ctx.store.listRuns({ deploymentId: remote.deployment.id });
    assert.equal(runs.length, 1, "exactly one run");
    const s = await ctx.store.getSchedule(remote.deployment.id);
    assert.equal(runs[0]!.scheduleId, s!.id);
    assert.equal(Number(s!.nextTickAt), due + 6 * minute, "resumes at the next tick after now");

    const events = await ctx.store.listEvents({ kind: "schedule.missed" });
    const mine = events.filter((e) => e.deploymentId === remote.deployment.id);
    assert.equal(mine.length, 1);
    assert.equal((mine[0]!.data as { missed: number }).missed, 5);
    assert.match(mine[0]!.message, /missed/);
    const api = await tp.api("GET", `/events?workspace=${ws}&kind=schedule.missed`);
    assert.equal(api.status, 200);
    assert.equal(api.json.events.length, 1);
    // The run it made works like any other.
    await eventually(async () => (await ctx.store.getRun(runs[0]!.id))?.status === "succeeded", 30_000, "the scheduled run");
  });
});
