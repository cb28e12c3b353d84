// A worker's report carries what user code made: a thrown error's fields, the spans its tracer
// ended, the result it returned. None of it may get a report refused or a finish skipped: the worker
// drops a refused report with every finish in it (runs of other workspaces too), the runs lapse back
// into the queue and run again — forever when a call was too short for a started mark. Nor may a
// span reach a run or serving through an owner the control plane did not check.
// The first suite speaks the worker API by hand (the platform has no executor); the second lets a
// real worker run user code that tries it.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { WORKER_PROTOCOL } from "../../src/contract/routes-worker.ts";
import type { PlatformContext } from "../../src/platform/context.ts";
import type { SpanInput } from "../../src/platform/store/spans-repo.ts";
import { ReportWriter } from "../../src/platform/workers/report.ts";
import { startTestPlatform, wsName, type TestPlatform } from "../platform/jobs/_helpers.ts";
import { importProject } from "../platform/serving/_helpers.ts";
import { call, createWorkerToken } from "../worker/_helpers.ts";

const LONE = String.fromCharCode(0xd800); // half of a UTF-16 pair: JSON text carries it, the store's JSON does not

const OPS = `import { getTracer, operator } from "nbox";
export const square = operator(function square(x: number) { return x * x; });
/** Throws an error whose name is a number (user code may set any field of an error). */
export const oddError = operator(function oddError() { throw Object.assign(new Error("boom"), { name: 42 }); });
/** A span user code broke: its attributes are not a record any more. */
export const oddSpan = operator(function oddSpan() { getTracer().withSpan("inner", (s: any) => { s.attributes = null; }); return 1; });
/** Returns a string holding a lone surrogate. */
export const lone = operator(function lone() { return "a" + String.fromCharCode(0xd800) + "b"; });
/** Calls the platform with the token it was given. */
export const callApi = operator(async function callApi(path: string, body: unknown) {
  const res = await fetch(process.env.NBOX_URL + path, { method: "POST", headers: { authorization: "Bearer " + process.env.NBOX_TOKEN, "content-type": "application/json" }, body: JSON.stringify(body) });
  return res.status;
});
`;
const FILES = { "package.json": JSON.stringify({ name: "worker-api-attack", private: true, type: "module" }), "ops.ts": OPS };

/** `p`, or a failure naming `what` after `ms`. */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: no outcome within ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

const span = (n: number, name: string, owner: { runId?: string; servingId?: string }, extra: Record<string, unknown> = {}) => {
  const now = Date.now();
  return { traceId: "c".repeat(30) + String(n).padStart(2, "0"), spanId: "c".repeat(14) + String(n).padStart(2, "0"), op: "op", name, start: now, end: now + 1, status: "ok", attributes: {}, ...owner, ...extra };
};

describe("security: worker reports shaped by user code (worker API by hand)", () => {
  let tp: TestPlatform;
  let ws: string;
  let worker: Awaited<ReturnType<typeof createWorkerToken>>;
  const api = (token: string, method: string, path: string, body?: unknown) => call(tp.url, token, method, `/api/v1${path}`, body);
  const register = async (name: string, extra: Record<string, unknown> = {}) => {
    const r = await api(worker.secret, "POST", "/worker/register", { name, slots: 4, protocol: WORKER_PROTOCOL, ...extra });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return r.json.workerId as string;
  };
  const trigger = async (x: number) => {
    const r = await api(tp.token, "POST", `/workspaces/${ws}/deployments/square/runs`, { args: [x] });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    return r.json.run.id as string;
  };
  /** `n` new runs, claimed by `workerId`. */
  const claimed = async (workerId: string, n: number) => {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push(await trigger(i));
    const got = new Set<string>();
    while (got.size < n) {
      const c = await api(worker.secret, "POST", "/worker/claim", { workerId, max: 100 });
      assert.equal(c.status, 200, JSON.stringify(c.json));
      assert.ok(c.json.runs.length > 0, "claimed nothing");
      for (const r of c.json.runs) got.add(r.id);
    }
    for (const id of ids) assert.ok(got.has(id), `claimed ${id}`);
    return ids;
  };
  const run = async (id: string) => (await api(tp.token, "GET", `/runs/${id}`)).json.run;
  const spanNames = async (q: { runId?: string; servingId?: string }) => {
    await tp.platform.ctx.flushRunOutput?.();
    return (await tp.platform.ctx.store.getSpans(q)).map((s) => s.name).sort();
  };

  before(async () => {
    tp = await startTestPlatform({ executor: false });
    ws = wsName("wattack");
    const { mod } = await importProject(FILES);
    await mod.square.deploy(ws, { client: tp.client });
    worker = await createWorkerToken(tp.url, tp.token, "worker-api-attack test");
  });
  after(async () => {
    await worker?.revoke();
    await tp?.close();
  });

  it("an error whose fields are not text, and a span that is not one, do not get the report refused", async () => {
    const A = await register("odd errors");
    const [failed, again, held] = await claimed(A, 3);
    const r = await api(worker.secret, "POST", "/worker/report", {
      workerId: A,
      spans: [span(1, "broken", { runId: held! }, { attributes: null }), span(2, "whole", { runId: held! }), span(3, "no name", { runId: held! }, { name: 5 })],
      finished: [{ id: failed, attempt: 1, status: "failed", error: { name: 42, message: "boom", stack: null } }],
      requeued: [{ id: again, attempt: 2, scheduledFor: null, error: { name: { not: "text" }, message: 7 } }],
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual([r.json.finished, r.json.requeued], [[failed], [again]]);
    const f = await run(failed!);
    assert.deepEqual([f.status, f.error.name, f.error.message], ["failed", "42", "boom"]);
    const q = await run(again!);
    assert.deepEqual([q.status, q.attempt, typeof q.error?.name, q.error?.message], ["queued", 2, "string", "7"]);
    assert.deepEqual(await spanNames({ runId: held! }), ["whole"], "the span that is one is kept, the others dropped");
    await api(worker.secret, "POST", "/worker/leave", { workerId: A });
  });

  it("a result or error holding a lone surrogate ends its run instead of its finish being skipped", async () => {
    const A = await register("lone surrogates");
    const [result, error, back, held] = await claimed(A, 4);
    const now = Date.now();
    const r = await api(worker.secret, "POST", "/worker/report", {
      workerId: A,
      logs: [{ runId: error, lines: [{ stream: "system", line: `failed: x${LONE}y`, ts: now }] }],
      spans: [span(11, `kept with its finish ${LONE}`, { runId: result! }), span(12, `held ${LONE}`, { runId: held! }), span(13, "held, whole", { runId: held! })],
      finished: [
        { id: result, attempt: 1, status: "succeeded", result: `a${LONE}b`, startedAt: now, finishedAt: now },
        { id: error, attempt: 1, status: "failed", error: { name: "E", message: `x${LONE}y` }, startedAt: now, finishedAt: now },
      ],
      requeued: [{ id: back, attempt: 2, scheduledFor: null, error: { name: "E", message: `z${LONE}` } }],
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual([[...r.json.finished].sort(), r.json.requeued], [[result, error].sort(), [back]], "every finish and requeue applied");
    const res = await run(result!);
    assert.equal(res.status, "failed", "a result the store cannot keep fails its run (as one holding a NUL does)");
    assert.equal(res.error.name, "ResultNotStorableError");
    const err = await run(error!);
    assert.deepEqual([err.status, err.error.message], ["failed", "x\uFFFDy"], "an error's text loses the lone surrogate");
    const q = await run(back!);
    assert.deepEqual([q.status, q.attempt, q.error.message], ["queued", 2, "z\uFFFD"]);
    const logs = (await api(tp.token, "GET", `/runs/${error}/logs`)).json.logs.map((l: { line: string }) => l.line);
    assert.deepEqual(logs, ["failed: x\uFFFDy"]);
    assert.deepEqual(await spanNames({ runId: result! }), ["kept with its finish \uFFFD"]);
    assert.deepEqual(await spanNames({ runId: held! }), ["held \uFFFD", "held, whole"], "one span the store refuses costs no other span of its batch");
    await api(worker.secret, "POST", "/worker/leave", { workerId: A });
  });

  it("a span naming both a run and a serving is kept for neither", async () => {
    // With an address the host is a placement candidate, so the router's re-placing keeps the serving on it.
    const A = await register("host and holder", { address: "http://127.0.0.1:9" });
    const B = await register("holder only");
    const store = tp.platform.ctx.store;
    const w = (await store.getWorkspaceByName(ws))!;
    const { deployment } = await store.upsertDeploymentVersion({ workspaceId: w.id, name: "placed", type: "serving", kind: "class", contentHash: `h-attack-${Date.now()}`, lockfileHash: null, manifest: {}, bundleBytes: 1 });
    await store.upsertServingStatus({ deploymentId: deployment.id, status: "ready", workerId: A });
    const S = deployment.id;
    const [ofA] = await claimed(A, 1);
    const [ofB] = await claimed(B, 1);
    const ok = async (workerId: string, spans: unknown[]) => assert.equal((await api(worker.secret, "POST", "/worker/report", { workerId, spans })).status, 200);
    // B's run is its own, the serving is not: the run must not carry a span into the serving.
    await ok(B, [span(21, "into a serving B does not host", { runId: ofB!, servingId: S })]);
    // A serving's process on A must not put spans on a run A holds (a run of any workspace).
    await ok(A, [span(22, "serving span onto a run", { runId: ofA!, servingId: S })]);
    await ok(A, [span(23, "run span", { runId: ofA! }), span(24, "serving span", { servingId: S })]);
    assert.deepEqual(await spanNames({ servingId: S }), ["serving span"]);
    assert.deepEqual(await spanNames({ runId: ofA! }), ["run span"]);
    assert.deepEqual(await spanNames({ runId: ofB! }), []);
    for (const id of [A, B]) await api(worker.secret, "POST", "/worker/leave", { workerId: id });
  });
});

describe("security: spans waiting to be written", () => {
  it("are held up to a bound however fast they come; the rest are dropped, and that is logged", async () => {
    // A job ending spans in a loop made 600,000 a second, faster than any store writes them: the
    // control plane held every one of them waiting (gigabytes within seconds).
    let written = 0;
    let writing = Promise.resolve();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const store = {
      async insertSpans(batch: SpanInput[]) {
        await gate; // the store is busy until the flood is over
        written += batch.length;
        return batch.length;
      },
    };
    const writer = new ReportWriter({ store } as unknown as PlatformContext);
    const errors: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void errors.push(args.map(String).join(" "));
    let offered = 0;
    try {
      for (let report = 0; report < 100; report++) {
        const spans = Array.from({ length: 10_000 }, (_, i): SpanInput => ({ spanId: `${report}-${i}`, traceId: "f".repeat(32), parentSpanId: null, op: "op", name: "flood", start: i, end: i + 1, status: "ok", runId: "run_x", servingId: null }));
        offered += spans.length;
        writer.addSpans(spans);
        writing = writer.flush();
        await new Promise((r) => setImmediate(r));
      }
      release();
      await writing;
    } finally {
      console.error = original;
    }
    assert.equal(offered, 1_000_000);
    assert.ok(written > 0 && written <= 100_000, `${written} of ${offered} spans were held to be written`);
    assert.ok(errors.some((e) => /span\(s\) dropped/.test(e)), `the drop is logged: ${JSON.stringify(errors.slice(0, 3))}`);
    assert.ok(errors.length < 5, `logged a few times, not per report: ${errors.length}`);
  });
});

describe("security: user code on a real worker cannot get its finish lost", () => {
  let tp: TestPlatform;
  let ws: string;
  let mod: any;
  const deploy = (name: string) => mod[name].deploy(ws, { client: tp.client, maxRetries: 0 });

  before(async () => {
    // A short lease: a finish that never arrives shows as a run taken back and run again within seconds.
    tp = await startTestPlatform({ leaseMs: 2_000 });
    ws = wsName("wattack-e2e");
    ({ mod } = await importProject(FILES));
  });
  after(async () => {
    await tp?.close();
  });

  /** The run's outcome (its error when it failed), and the run as the API shows it after. */
  const outcome = async (name: string, ...args: unknown[]) => {
    const r = await (await deploy(name)).trigger(...args);
    let value: unknown;
    let error: Error | undefined;
    try {
      value = await within(20_000, `run of ${name}`, r.result());
    } catch (e) {
      error = e as Error;
    }
    assert.ok(!error?.message.includes("no outcome within"), error?.message);
    return { value, error, run: (await tp.api("GET", `/runs/${r.id}`)).json.run };
  };

  it("a job throwing an error whose name is a number fails once, with that error", async () => {
    const { error, run } = await outcome("oddError");
    assert.deepEqual([run.status, run.attempt, run.error?.name, run.error?.message], ["failed", 1, "42", "boom"], JSON.stringify(run.error));
    assert.match(String(error?.message), /boom/);
  });

  it("a job that broke one of its spans still finishes", async () => {
    const { value, run } = await outcome("oddSpan");
    assert.equal(value, 1);
    assert.deepEqual([run.status, run.attempt], ["succeeded", 1]);
  });

  it("a job returning a lone surrogate fails once (its result cannot be stored) instead of running again and again", async () => {
    const { error, run } = await outcome("lone");
    assert.deepEqual([run.status, run.attempt, run.error?.name], ["failed", 1, "ResultNotStorableError"], JSON.stringify(run.error));
    assert.match(String(error?.message), /lone UTF-16 surrogate/);
  });

  it("the token a job was given is refused by the worker API", async () => {
    const job = await deploy("callApi");
    for (const [path, body] of [
      ["/api/v1/worker/register", { name: "from a job", slots: 1, protocol: WORKER_PROTOCOL }],
      ["/api/v1/worker/report", { workerId: "wrk_x" }],
      ["/api/v1/worker/runtime-token", { workerId: "wrk_x", workspaceId: "ws_x" }],
      ["/api/v1/worker/../worker/claim", { workerId: "wrk_x", max: 1 }],
    ] as const) {
      assert.equal(await job(path, body), 403, `${path} with a job's token`);
    }
  });
});
