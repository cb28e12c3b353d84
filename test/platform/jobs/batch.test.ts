// The fan-out transport: batch triggers and the many-run long-poll behind remote map.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { importProject, startTestPlatform, wsName, type TestPlatform } from "./_helpers.ts";

describe("jobs e2e: batch trigger and POST /runs/wait", () => {
  let tp: TestPlatform;
  let runsPath: string;
  before(async () => {
    tp = await startTestPlatform();
    const { mod } = await importProject("basic");
    const ws = wsName("batch");
    const remote = await mod.square.deploy(ws, { client: tp.client });
    runsPath = `/workspaces/${ws}/deployments/${remote.deployment.name}/runs`;
  });
  after(async () => {
    await tp?.close();
  });

  it("a batch queues one run per argument list, in order, and /runs/wait returns them as they finish", async () => {
    const r = await tp.api("POST", runsPath, { batch: [[1], [2], [3], [4]] });
    assert.equal(r.status, 201);
    const ids: string[] = r.json.runs.map((x: any) => x.id);
    assert.equal(ids.length, 4);
    assert.deepEqual(r.json.runs.map((x: any) => x.args), [[1], [2], [3], [4]]);
    const results = new Map<string, unknown>();
    while (results.size < ids.length) {
      // The whole long-poll the platform allows (30 s): the first run is a cold start, slow on a busy machine.
      const w = await tp.api("POST", "/runs/wait", { ids: ids.filter((id) => !results.has(id)), timeoutMs: 30_000 });
      assert.equal(w.status, 200);
      assert.ok(w.json.runs.length > 0, "a wait returns as soon as at least one run finished");
      for (const run of w.json.runs) {
        assert.equal(run.status, "succeeded");
        results.set(run.id, run.result);
      }
    }
    assert.deepEqual(ids.map((id) => results.get(id)), [1, 4, 9, 16]);
  });

  it("one bad item rejects the whole batch before anything is queued, naming the item", async () => {
    const before = (await tp.api("GET", "/runs?limit=1000")).json.runs.length;
    const r = await tp.api("POST", runsPath, { batch: [[1], [1, 2], [3]] });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, "BAD_ARGS");
    assert.match(r.json.error.message, /batch\[1\]/);
    const empty = await tp.api("POST", runsPath, { batch: [] });
    assert.equal(empty.status, 400);
    const after = (await tp.api("GET", "/runs?limit=1000")).json.runs.length;
    assert.equal(after, before, "nothing was queued");
  });

  it("{ calls } queues one run carrying several calls; its result lists each call's outcome", async () => {
    const r = await tp.api("POST", runsPath, { batch: [{ calls: [[2], [3], [4]] }, [5]], wait: false });
    assert.equal(r.status, 201);
    const [batched, single] = r.json.runs;
    assert.equal(batched.calls, 3);
    assert.deepEqual(batched.args, [[2], [3], [4]]);
    assert.equal(single.calls, undefined);
    const done = await tp.api("GET", `/runs/${batched.id}/wait?timeoutMs=30000`);
    assert.equal(done.json.run.status, "succeeded");
    assert.deepEqual(done.json.run.result, [{ ok: true, value: 4 }, { ok: true, value: 9 }, { ok: true, value: 16 }]);
    // Each call is traced: its span is the run's (kept with the run's finish, like a single call's).
    const spans = (await tp.api("GET", `/runs/${batched.id}/spans`)).json.spans;
    assert.equal(spans.filter((x: any) => x.name === "square").length, 3, JSON.stringify(spans.map((x: any) => x.name)));
    const bad = await tp.api("POST", runsPath, { batch: [[1], { calls: [[1], [1, 2]] }] });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, "BAD_ARGS");
    assert.match(bad.json.error.message, /batch\[1\]\.calls\[1\]/);
    for (const calls of [[], Array.from({ length: 1_001 }, () => [1])]) assert.equal((await tp.api("POST", runsPath, { batch: [{ calls }] })).status, 400, `${calls.length} calls`);
  });

  it("a job that retries refuses batched calls (each call would not be retried alone), saying how to send them", async () => {
    const { mod } = await importProject("basic");
    const ws = wsName("batch-retries");
    await mod.square.deploy(ws, { client: tp.client, resource: { maxRetries: 1 } });
    const r = await tp.api("POST", `/workspaces/${ws}/deployments/square/runs`, { batch: [{ calls: [[1], [2]] }] });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, "BAD_REQUEST");
    assert.match(r.json.error.message, /retries failed runs/);
    const d = await tp.api("GET", `/workspaces/${ws}/deployments/square`);
    assert.equal(d.json.deployment.maxRetries, 1, "a job's settings say so up front");
  });

  it("/runs/wait validates its ids and answers [] at the deadline for unfinished runs", async () => {
    assert.equal((await tp.api("POST", "/runs/wait", { ids: [] })).status, 400);
    assert.equal((await tp.api("POST", "/runs/wait", { ids: [1, 2] })).status, 400);
    for (const bad of ["run_\u0000", "x".repeat(65), "run 1"]) {
      const r = await tp.api("POST", "/runs/wait", { ids: [bad] });
      assert.equal(r.status, 400, JSON.stringify(bad));
      assert.match(r.json.error.message, /run id/);
    }
    assert.equal((await tp.api("POST", "/runs/wait", { ids: ["run_ok"], added: ["bad\u0000"] })).status, 400);
    const r = await tp.api("POST", runsPath, { batch: [[5]] });
    const id = r.json.runs[0].id;
    const cancelled = await tp.api("POST", `/runs/${id}/cancel`);
    assert.equal(cancelled.status, 200);
    const w = await tp.api("POST", "/runs/wait", { ids: [id, "run_unknown"], timeoutMs: 2_000 });
    assert.equal(w.status, 200);
    assert.ok(w.json.runs.every((x: any) => x.id === id), "unknown ids are ignored");
  });

  it("/runs/wait without ids needs the cursor of a previous poll; a cursor whose watch is gone is told to name them", async () => {
    const none = await tp.api("POST", "/runs/wait", { timeoutMs: 100 });
    assert.equal(none.status, 400);
    assert.match(none.json.error.message, /ids/);
    const lost = await tp.api("POST", "/runs/wait", { cursor: `gone.1.${Date.now()}`, added: [], timeoutMs: 100 });
    assert.equal(lost.status, 200);
    assert.deepEqual(lost.json, { runs: [], cursor: "", watchLost: true });
  });

  it("remote map's polls after the first name only the runs they add, and every result still arrives", async () => {
    const { mod } = await importProject("basic");
    const bodies: Array<Record<string, unknown>> = [];
    const spy = Object.create(tp.client) as typeof tp.client;
    const triggered: Promise<unknown>[] = [];
    spy.call = ((route: string, input?: { body?: Record<string, unknown> }) => {
      if (route === "POST /runs/wait") bodies.push(input!.body!);
      const answer = (tp.client.call as (...a: unknown[]) => Promise<unknown>)(route, input);
      if (route.endsWith("/runs") && route.startsWith("POST")) triggered.push(answer);
      return answer;
    }) as typeof tp.client.call;
    // A job that retries: one run per input (batched calls would make far fewer runs to watch).
    const remote = await mod.square.deploy(wsName("batch-lean"), { client: spy, resource: { maxRetries: 1 } });
    const xs = Array.from({ length: 300 }, (_, i) => i);
    assert.deepEqual(await remote.map(xs), xs.map((x) => x * x));
    assert.ok(bodies.length > 1, `several polls (${bodies.length})`);
    const firstWave = ((await triggered[0]) as { runs: unknown[] }).runs.length;
    assert.equal((bodies[0]!.ids as string[]).length, firstWave, "the first poll names every run of the first trigger");
    const later = bodies.slice(1);
    assert.ok(later.every((b) => b.ids === undefined && typeof b.cursor === "string"), `later polls name no ids, only the cursor: ${JSON.stringify(bodies.map((b) => [(b.ids as string[] | undefined)?.length, b.cursor, (b.added as string[] | undefined)?.length]))}`);
    const addedIds = later.flatMap((b) => (b.added as string[] | undefined) ?? []);
    assert.equal(new Set(addedIds).size, addedIds.length, "no run is added twice");
  });

  it("against a platform that needs every id in every poll (an earlier release), remote map names them all and still gets every result", async () => {
    const { mod } = await importProject("basic");
    const { NboxError } = await import("../../../src/errors.ts");
    const bodies: Array<Record<string, unknown>> = [];
    const spy = Object.create(tp.client) as typeof tp.client;
    spy.call = ((route: string, input?: { body?: Record<string, unknown> }) => {
      if (route === "POST /runs/wait") {
        bodies.push(input!.body!);
        // What an earlier platform's validation answers to a poll without ids.
        if (!input!.body!.ids) return Promise.reject(new NboxError("BAD_REQUEST", "invalid request: ids: Required"));
      }
      return (tp.client.call as (...a: unknown[]) => unknown)(route, input);
    }) as typeof tp.client.call;
    const remote = await mod.square.deploy(wsName("batch-old-platform"), { client: spy });
    const xs = Array.from({ length: 200 }, (_, i) => i);
    assert.deepEqual(await remote.map(xs), xs.map((x) => x * x));
    assert.equal(bodies.filter((b) => !b.ids).length, 1, "one lean poll was tried, then never again");
  });

  it("when lean polls keep finding their watch gone (control planes behind one address), remote map names every id from then on", async () => {
    const { mod } = await importProject("basic");
    const bodies: Array<Record<string, unknown>> = [];
    const spy = Object.create(tp.client) as typeof tp.client;
    spy.call = ((route: string, input?: { body?: Record<string, unknown> }) => {
      if (route !== "POST /runs/wait") return (tp.client.call as (...a: unknown[]) => unknown)(route, input);
      bodies.push(input!.body!);
      // Every poll lands on another control plane: none knows the previous poll's watch.
      const body = { ...input!.body!, cursor: input!.body!.cursor ? `other.1.${Date.now()}` : undefined };
      return (tp.client.call as (...a: unknown[]) => unknown)(route, { ...input, body });
    }) as typeof tp.client.call;
    const remote = await mod.sleeper.deploy(wsName("batch-many-cps"), { client: spy });
    const xs = Array.from({ length: 40 }, () => 20);
    assert.equal((await remote.map(xs)).length, xs.length);
    const lean = bodies.filter((b) => !b.ids).length;
    assert.ok(bodies.length > 4, `several polls (${bodies.length})`);
    assert.equal(lean, 2, "two lean polls lost their watch, then every poll named every id");
  });

  it("remote map with settle reports each failure with its run id while the rest succeed", async () => {
    const { mod } = await importProject("basic");
    const ws = wsName("batch-map");
    const picky = await mod.picky.deploy(ws, { client: tp.client });
    const out = await picky.map([1, 2, 3, 4, 5, 6], { settle: true });
    assert.equal(out.length, 6);
    for (const item of out) assert.ok(item.runId?.startsWith("run_"), "every item names its run");
    assert.deepEqual(out.map((x: any) => x.ok), [true, true, false, true, true, true]);
    assert.deepEqual(out.filter((x: any) => x.ok).map((x: any) => x.value), [2, 4, 8, 10, 12]);
    assert.match(String(out[2].error.message), /RangeError: picky does not like 3/);
  });
});
