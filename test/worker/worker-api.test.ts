// The worker API's boundaries: worker tokens reach nothing but the worker routes and no other token
// reaches those; a worker of another protocol is refused naming both versions; a worker cannot
// touch runs it does not hold; heartbeats of workers the control plane does not know answer 404.
// The "workers" here are this test speaking the worker API by hand (the platform has no executor).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { sql } from "drizzle-orm";
import { WORKER_PROTOCOL } from "../../src/contract/routes-worker.ts";
import { call, createWorkerToken, importProject, startTestPlatform, wsName, type TestPlatform } from "./_helpers.ts";

describe("worker API", () => {
  let tp: TestPlatform;
  let ws: string;
  let worker: Awaited<ReturnType<typeof createWorkerToken>>;
  let otherWorker: Awaited<ReturnType<typeof createWorkerToken>>;
  let wsToken: { id: string; secret: string };
  /** Logs and spans of the runs before and after a worker reported about runs it does not hold. */
  let forgedOutput: { before: unknown; after: unknown } | undefined;
  const api = (token: string, method: string, path: string, body?: unknown) => call(tp.url, token, method, `/api/v1${path}`, body);
  const register = (token: string, name: string, extra: Record<string, unknown> = {}) => api(token, "POST", "/worker/register", { name, slots: 2, protocol: WORKER_PROTOCOL, ...extra });

  before(async () => {
    tp = await startTestPlatform({ executor: false });
    ws = wsName("wapi");
    const { mod } = await importProject("basic");
    await mod.square.deploy(ws, { client: tp.client });
    worker = await createWorkerToken(tp.url, tp.token, "worker-api test");
    otherWorker = await createWorkerToken(tp.url, tp.token, "worker-api test (other)");
    const t = await api(tp.token, "POST", "/tokens", { workspace: ws, name: "worker-api test workspace" });
    assert.equal(t.status, 201);
    wsToken = { id: t.json.token.id, secret: t.json.secret };
  });
  after(async () => {
    await worker?.revoke();
    await otherWorker?.revoke();
    if (wsToken) await api(tp.token, "DELETE", `/tokens/${wsToken.id}`);
    await tp?.close();
  });

  it("a worker token is refused (403) on every route outside the worker API", async () => {
    const probes: Array<[string, string, unknown?]> = [
      ["GET", "/runs"],
      ["GET", `/runs?workspace=${ws}`],
      ["POST", "/runs/wait", { ids: ["run_x"], timeoutMs: 0 }],
      ["GET", "/workspaces"],
      ["GET", `/workspaces/${ws}/deployments`],
      ["POST", `/workspaces/${ws}/deployments/square/runs`, { args: [2] }],
      ["GET", "/tokens"],
      ["POST", "/tokens", { worker: true }],
      ["POST", "/tokens", { admin: true }],
    ];
    for (const [method, path, body] of probes) {
      const r = await api(worker.secret, method, path, body);
      assert.equal(r.status, 403, `${method} ${path} with a worker token: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error.code, "FORBIDDEN");
    }
    // Nothing was triggered or minted by those attempts.
    const runs = await api(tp.token, "GET", `/runs?workspace=${ws}`);
    assert.deepEqual(runs.json.runs, []);
    // The serving proxy does not take worker tokens either.
    const s = await call(tp.url, worker.secret, "POST", `/s/${ws}/square/call/x`, { args: [] });
    assert.ok(s.status === 401 || s.status === 403, `serving route with a worker token: ${s.status}`);
  });

  it("admin and workspace tokens are refused (403) on the worker API", async () => {
    for (const [who, token] of [["admin", tp.token], ["workspace", wsToken.secret]] as const) {
      const r = await register(token, `not a worker (${who})`);
      assert.equal(r.status, 403, `register with an ${who} token: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error.code, "FORBIDDEN");
      for (const [path, body] of [
        ["/worker/heartbeat", { workerId: "wkr_x" }],
        ["/worker/claim", { workerId: "wkr_x", max: 1 }],
        ["/worker/report", { workerId: "wkr_x" }],
        ["/worker/runtime-token", { workerId: "wkr_x", workspaceId: "ws_x" }],
      ] as const) {
        const x = await api(token, "POST", path, body);
        assert.equal(x.status, 403, `${path} with an ${who} token`);
      }
    }
    const live = tp.platform.ctx.store;
    assert.deepEqual((await live.listLiveWorkers()).map((w) => w.name), [], "nobody registered");
  });

  it("a worker speaking another protocol is refused with 400 naming both versions", async () => {
    const theirs = WORKER_PROTOCOL + 41;
    const r = await register(worker.secret, "from the future", { protocol: theirs });
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.equal(r.json.error.code, "BAD_REQUEST");
    assert.match(r.json.error.message, new RegExp(`\\b${theirs}\\b`));
    assert.match(r.json.error.message, new RegExp(`\\b${WORKER_PROTOCOL}\\b`));
    assert.ok(!(await tp.platform.ctx.store.listLiveWorkers()).some((w) => w.name === "from the future"));
  });

  it("heartbeats of a worker the control plane does not know answer 404", async () => {
    const unknown = await api(worker.secret, "POST", "/worker/heartbeat", { workerId: "wkr_no_such_worker" });
    assert.equal(unknown.status, 404, JSON.stringify(unknown.json));
    assert.equal(unknown.json.error.code, "NOT_FOUND");

    const reg = await register(worker.secret, "short-lived");
    assert.equal(reg.status, 200, JSON.stringify(reg.json));
    const id = reg.json.workerId as string;
    assert.equal((await api(worker.secret, "POST", "/worker/heartbeat", { workerId: id })).status, 200);
    // Another worker token cannot speak for it.
    assert.equal((await api(otherWorker.secret, "POST", "/worker/heartbeat", { workerId: id })).status, 404);
    // Once it left, it is unknown.
    assert.equal((await api(worker.secret, "POST", "/worker/leave", { workerId: id })).status, 200);
    assert.equal((await api(worker.secret, "POST", "/worker/heartbeat", { workerId: id })).status, 404);
  });

  it("a report about runs the worker does not hold does not start, finish or requeue them", async () => {
    const a = await register(worker.secret, "holder");
    const b = await register(worker.secret, "bystander");
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    const A = a.json.workerId as string;
    const B = b.json.workerId as string;
    const trigger = async (x: number) => {
      const r = await api(tp.token, "POST", `/workspaces/${ws}/deployments/square/runs`, { args: [x] });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      return r.json.run.id as string;
    };
    // r1 is held by A; r2 stays queued; r3 is finished already.
    const held = await trigger(1);
    const claim = await api(worker.secret, "POST", "/worker/claim", { workerId: A, max: 1 });
    assert.deepEqual(claim.json.runs.map((r: { id: string }) => r.id), [held]);
    const queued = await trigger(2);
    const done = await trigger(3);
    const more = await api(worker.secret, "POST", "/worker/claim", { workerId: A, max: 5 });
    assert.deepEqual(more.json.runs.map((r: { id: string }) => r.id).sort(), [queued, done].sort());
    const finishDone = await api(worker.secret, "POST", "/worker/report", { workerId: A, started: [{ id: done, startedAt: Date.now() }], finished: [{ id: done, attempt: 1, status: "succeeded", result: 9 }], requeued: [{ id: queued, attempt: 1, scheduledFor: null, error: null }] });
    assert.deepEqual(finishDone.json, { finished: [done], requeued: [queued], claimed: [], held: [] }, "A's own report applies (the control case)");
    // A's own started mark that names another attempt than the run's (one sent again late) marks nothing.
    assert.equal((await api(worker.secret, "POST", "/worker/report", { workerId: A, started: [{ id: held, attempt: 2, startedAt: Date.now() }] })).status, 200);
    assert.equal((await api(tp.token, "GET", `/runs/${held}`)).json.run.startedAt, null, "attempt 1 was not marked started by attempt 2's mark");

    const snapshot = async () => {
      const runs: Record<string, unknown> = {};
      const output: Record<string, unknown> = {};
      for (const id of [held, queued, done]) {
        const run = (await api(tp.token, "GET", `/runs/${id}`)).json.run;
        const row = await tp.platform.ctx.store.getRun(id);
        runs[id] = { status: run.status, attempt: run.attempt, result: run.result, error: run.error, startedAt: run.startedAt, finishedAt: run.finishedAt, workerId: row?.workerId };
        output[id] = { logs: (await api(tp.token, "GET", `/runs/${id}/logs`)).json.logs, spans: (await api(tp.token, "GET", `/runs/${id}/spans`)).json.spans };
      }
      return { runs, output };
    };
    const before = await snapshot();
    const now = Date.now();
    const ids = [held, queued, done];
    const bogus = await api(worker.secret, "POST", "/worker/report", {
      workerId: B,
      started: ids.map((id) => ({ id, startedAt: now })),
      logs: ids.map((runId) => ({ runId, lines: [{ stream: "stdout", line: "written by a worker that does not hold this run", ts: now }] })),
      spans: ids.map((runId, i) => ({ traceId: "0".repeat(31) + (i + 1), spanId: "0".repeat(15) + (i + 1), op: "run", name: "forged", start: now, end: now + 1, status: "ok", attributes: {}, runId })),
      finished: ids.map((id) => ({ id, attempt: 1, status: "failed", error: { name: "Forged", message: "not B's run" }, startedAt: now, finishedAt: now })),
      requeued: ids.map((id) => ({ id, attempt: 1, scheduledFor: null, error: { name: "Forged", message: "not B's run" } })),
    });
    assert.equal(bogus.status, 200, JSON.stringify(bogus.json));
    assert.deepEqual(bogus.json, { finished: [], requeued: [], claimed: [], held: [] }, "nothing applied");
    await tp.platform.ctx.flushRunOutput?.();
    const after = await snapshot();
    assert.deepEqual(after.runs, before.runs, "the runs are as they were (status, attempt, result, error, times, holder)");
    forgedOutput = { before: before.output, after: after.output };
    // A worker token other than A's may not report for A at all.
    const foreign = await api(otherWorker.secret, "POST", "/worker/report", { workerId: A, finished: [{ id: held, attempt: 1, status: "failed", error: { name: "Forged", message: "x" } }] });
    assert.equal(foreign.status, 404);
    assert.equal((await api(tp.token, "GET", `/runs/${held}`)).json.run.status, "running");
    for (const id of [A, B]) await api(worker.secret, "POST", "/worker/leave", { workerId: id });
  });

  it("serving spans are kept only from the worker the serving is placed on", async () => {
    // With an address the host is a placement candidate, so the router's periodic re-placing keeps the serving on it.
    const a = await register(worker.secret, "serving host", { address: "http://127.0.0.1:9" });
    const b = await register(worker.secret, "not the host");
    const [A, B] = [a.json.workerId as string, b.json.workerId as string];
    const store = tp.platform.ctx.store;
    const w = (await store.getWorkspaceByName(ws))!;
    const { deployment } = await store.upsertDeploymentVersion({ workspaceId: w.id, name: "placed", type: "serving", kind: "class", contentHash: `h-placed-${Date.now()}`, lockfileHash: null, manifest: {}, bundleBytes: 1 });
    await store.upsertServingStatus({ deploymentId: deployment.id, status: "ready", workerId: A });
    const now = Date.now();
    const span = (n: number, name: string) => ({ traceId: "a".repeat(31) + n, spanId: "a".repeat(15) + n, op: "serving", name, start: now, end: now + 1, status: "ok", attributes: {}, servingId: deployment.id });
    assert.equal((await api(worker.secret, "POST", "/worker/report", { workerId: B, spans: [span(1, "forged")] })).status, 200);
    assert.equal((await api(worker.secret, "POST", "/worker/report", { workerId: A, spans: [span(2, "hosted")] })).status, 200);
    await tp.platform.ctx.flushRunOutput?.();
    assert.deepEqual((await store.getSpans({ servingId: deployment.id })).map((s) => s.name), ["hosted"]);
    for (const id of [A, B]) await api(worker.secret, "POST", "/worker/leave", { workerId: id });
  });

  it("a schedule's fire delivered twice (or by two workers) becomes one run", async () => {
    const a = await register(worker.secret, "fire one");
    const b = await register(worker.secret, "fire two");
    const [A, B] = [a.json.workerId as string, b.json.workerId as string];
    const { mod } = await importProject("basic");
    await mod.square.deploy(ws, { client: tp.client, name: "hourly", schedule: { cron: "0 * * * *" } });
    const store = tp.platform.ctx.store;
    const d = (await store.getDeployment((await store.getWorkspaceByName(ws))!.id, "hourly"))!;
    const s = (await store.getSchedule(d.id))!;
    // A fire delivered late (an hour ago): the control plane's own scheduler (embedded here) only
    // fires the next tick, in the future, so it cannot get to this one first.
    const firedAt = Date.now() - 3_600_000;
    const fire = (workerId: string, at = firedAt, scheduleId = s.id) => api(worker.secret, "POST", "/worker/schedule-fire", { workerId, scheduleId, deploymentId: d.id, firedAt: at });
    const [first, second] = await Promise.all([fire(A), fire(B)]);
    assert.equal(first.status, 200, JSON.stringify(first.json));
    const ids = [first.json.runId, second.json.runId].filter(Boolean);
    assert.equal(ids.length, 1, `exactly one of two racing deliveries made a run: ${JSON.stringify([first.json, second.json])}`);
    assert.equal((await fire(A)).json.runId, null, "a redelivery later makes none");
    const run = (await api(tp.token, "GET", `/runs/${ids[0]}`)).json.run;
    assert.equal(run.deployment, "hourly");
    assert.equal((await store.getRun(ids[0]))?.scheduleId, s.id);
    assert.ok(Number((await store.getSchedule(d.id))!.nextTickAt) > firedAt, "the next tick moved on");
    // The next hour's fire is a new run; a fire of a schedule id that is not this deployment's makes none.
    assert.ok((await fire(A, firedAt + 3_600_000)).json.runId);
    assert.equal((await fire(A, firedAt + 1_800_000, "sch_not_this_one")).json.runId, null);
    // A fire claiming to be from a day ahead is refused: its last tick would hold back every fire until then.
    const ahead = await fire(A, Date.now() + 86_400_000);
    assert.equal(ahead.status, 400, JSON.stringify(ahead.json));
    assert.match(ahead.json.error.message, /in the future/);
    assert.ok((await fire(A, Date.now())).json.runId, "and the schedule still fires");
    for (const id of [A, B]) await api(worker.secret, "POST", "/worker/leave", { workerId: id });
  });

  it("a heartbeat renews only the runs the worker says it holds; one it lost track of lapses and is queued again", async () => {
    const a = await register(worker.secret, "forgetful");
    const A = a.json.workerId as string;
    const store = tp.platform.ctx.store;
    const ids: string[] = [];
    for (const x of [7, 8]) ids.push((await api(tp.token, "POST", `/workspaces/${ws}/deployments/square/runs`, { args: [x] })).json.run.id);
    const claimed = (await api(worker.secret, "POST", "/worker/claim", { workerId: A, max: 10 })).json.runs.map((r: { id: string }) => r.id);
    for (const id of ids) assert.ok(claimed.includes(id), `claimed ${id}`);
    const [kept, lost] = ids as [string, string];
    // Leases as if the claim were long ago: only a renewal keeps a run.
    const past = Date.now() - 1;
    await store.db.execute(sql`update runs set lease_expires_at = ${past} where id in (${kept}, ${lost})`);
    const beat = await api(worker.secret, "POST", "/worker/heartbeat", { workerId: A, holding: claimed.filter((id: string) => id !== lost) });
    assert.equal(beat.status, 200, JSON.stringify(beat.json));
    assert.ok((await store.getRun(kept))!.leaseExpiresAt! > Date.now(), "the run it holds is renewed");
    assert.equal((await store.getRun(lost))!.leaseExpiresAt, past, "the run it did not name is not");
    // What the control plane's sweep does with lapsed leases (it may already have).
    await store.recoverStaleRuns({ lapsedOnly: true, workerIds: [A] });
    assert.equal((await store.getRun(lost))!.status, "queued", "the lapsed run goes back to the queue");
    assert.equal((await store.getRun(kept))!.status, "running");
    assert.equal((await store.getRun(lost))!.attempt, 1, "never started: no attempt spent");
    await api(worker.secret, "POST", "/worker/leave", { workerId: A });
  });

  it("claims ride on reports: a run another worker holds is named as held (deliver it later), a finished one is not", async () => {
    const a = await register(worker.secret, "holder of a delivered run");
    const b = await register(worker.secret, "second delivery");
    const [A, B] = [a.json.workerId as string, b.json.workerId as string];
    const trigger = async (x: number) => (await api(tp.token, "POST", `/workspaces/${ws}/deployments/square/runs`, { args: [x] })).json.run.id as string;
    const id = await trigger(5);
    const first = await api(worker.secret, "POST", "/worker/report", { workerId: A, claim: [id] });
    assert.deepEqual(first.json.claimed.map((r: { id: string }) => r.id), [id]);
    assert.deepEqual(first.json.claimed[0].args, [5]);
    const repeated = await api(worker.secret, "POST", "/worker/report", { workerId: A, claim: [id] });
    assert.deepEqual(repeated.json.claimed.map((r: { id: string }) => r.id), [id], "asking again (the answer was lost) hands it again while it has not started");
    const again = await api(worker.secret, "POST", "/worker/report", { workerId: B, claim: [id, "run_unknown"] });
    assert.equal(again.status, 200, JSON.stringify(again.json));
    assert.deepEqual([again.json.claimed, again.json.held], [[], [id]], "A holds it: B must not end the queue's job");
    // A's finish and its claim of the next delivery in one report: the finish is applied first.
    const next = await trigger(6);
    const both = await api(worker.secret, "POST", "/worker/report", { workerId: A, finished: [{ id, attempt: 1, status: "succeeded", result: 25 }], claim: [next] });
    assert.deepEqual([both.json.finished, both.json.claimed.map((r: { id: string }) => r.id)], [[id], [next]]);
    assert.equal((await api(tp.token, "GET", `/runs/${id}`)).json.run.result, 25);
    const late = await api(worker.secret, "POST", "/worker/report", { workerId: B, claim: [id] });
    assert.deepEqual([late.json.claimed, late.json.held], [[], []], "finished: nothing to run, nothing to wait for");
    const tooMany = await api(worker.secret, "POST", "/worker/report", { workerId: B, claim: Array.from({ length: 1001 }, (_, i) => `run_${i}`) });
    assert.equal(tooMany.status, 400);
    await api(worker.secret, "POST", "/worker/report", { workerId: A, finished: [{ id: next, attempt: 1, status: "succeeded", result: 36 }] });
    for (const w of [A, B]) await api(worker.secret, "POST", "/worker/leave", { workerId: w });
  });

  it("log lines and spans about runs the worker does not hold are not written", () => {
    assert.ok(forgedOutput, "runs after the report test above");
    assert.deepEqual(forgedOutput.after, forgedOutput.before, "the runs' logs and spans are as they were");
  });
});
