// Chaos on the control plane / worker split, with kill -9 (no shutdown code runs):
// (a) a worker dies mid-run: another worker finishes the run if it has retries left, else it
//     fails with WorkerCrashError — never left `running`;
// (b) the worker hosting a serving dies: calls under way get 503 WORKER_CRASHED, later callers an
//     answer or a 503 with Retry-After, never a hang, and the serving answers again from another worker;
// (c) the control plane dies with thousands of runs queued and running: its local worker goes
//     with it (no orphan process), and after a restart on the same data folder every run succeeds;
// (d) a remote worker rides out a kill -9 and restart of its control plane (back within a lease):
//     no run is lost or failed, and it goes on taking runs from the restarted one.
// `npm run test:chaos` runs this file alone.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { toWire } from "../../src/codec/index.ts";
import { PlatformClient } from "../../src/remote/client.ts";
import { WorkerCrashError } from "../../src/remote/remote-error.ts";
import { fromServing } from "../../src/remote/serving-proxy.ts";
import { triggerRuns } from "../../src/remote/trigger.ts";
import { startNbxUp, type NbxUp } from "../cli/_harness.ts";
import { freshDataDir, freshPostgresSchema, QUEUE_UNDER_TEST, STORE_UNDER_TEST } from "../platform/jobs/_helpers.ts";
import { importProject as importServingProject, KIT_FILES } from "../platform/serving/_helpers.ts";
import { freePort, call, createWorkerToken, CRASH_FIXTURE, eventually, importProject, processesMatching, startTestPlatform, startWorkerProcess, tempDir, until, wsName, type TestPlatform, type WorkerProc } from "./_helpers.ts";
import { startGate } from "./_gate.ts";

// Short enough to keep the tests quick, long enough that a loaded machine does not declare a live worker dead.
const LEASE_MS = 4_000;
const TERMINAL = new Set(["succeeded", "failed", "cancelled", "timed_out"]);
// Hang guards only: nothing asserts how fast anything happens.
const REQUEST_TIMEOUT_MS = 15_000;
const SERVING_RETRIES = 200;


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `nbx up` arguments of the backends under test: a fresh Postgres schema, BullMQ under a fresh prefix; dropped after. */
async function scaleArgs(cleanup: Array<() => Promise<void>>): Promise<string[]> {
  const args: string[] = [];
  if (STORE_UNDER_TEST === "postgres") {
    const schema = await freshPostgresSchema();
    cleanup.push(() => schema.drop());
    args.push("--database", schema.databaseUrl);
  }
  if (QUEUE_UNDER_TEST === "bullmq") {
    const redis = await import("../queue/_redis.ts");
    const prefix = redis.freshPrefix();
    cleanup.push(async () => void (await redis.deleteKeys(prefix)));
    args.push("--redis", redis.TEST_REDIS_URL, "--redis-prefix", prefix);
  }
  return args;
}

describe("chaos: workers killed with -9", () => {
  let tp: TestPlatform;
  let token: Awaited<ReturnType<typeof createWorkerToken>>;
  const workers: WorkerProc[] = [];
  const cleanup: Array<() => Promise<void>> = [];
  const startWorker = async (slots?: number) => {
    const w = await startWorkerProcess({ url: tp.url, token: token.secret, ...(slots ? { slots } : {}) });
    workers.push(w);
    return w;
  };
  const liveIds = async () => (await tp.platform.ctx.store.listLiveWorkers()).map((w) => w.id).sort();

  before(async () => {
    tp = await startTestPlatform({ executor: false, leaseMs: LEASE_MS });
    token = await createWorkerToken(tp.url, tp.token, "chaos test workers");
  });
  after(async () => {
    for (const w of workers) await w.kill9();
    for (const f of cleanup.reverse()) await f();
    await token?.revoke();
    await tp?.close();
  });

  it("(a) a worker killed mid-run: with a retry left the run succeeds on the other worker, without one it fails with WorkerCrashError", { timeout: 240_000 }, async () => {
    const ws = wsName("chaos-a");
    const gate = await startGate();
    cleanup.push(() => gate.close());
    const { mod } = await importProject(CRASH_FIXTURE);
    const gate0 = await mod.gate.deploy(ws, { client: tp.client, name: "gate0", resource: { maxRetries: 0 } });
    const gate1 = await mod.gate.deploy(ws, { client: tp.client, name: "gate1", resource: { maxRetries: 1, retryBackoffMs: 100 } });

    // Only the doomed worker is up when the runs come: it holds both, and their user code starts.
    const doomed = await startWorker(2);
    const noRetry = (await gate0.trigger(gate.url)).id;
    const oneRetry = (await gate1.trigger(gate.url)).id;
    await eventually(
      async () => {
        const rows = await Promise.all([noRetry, oneRetry].map((id) => tp.platform.ctx.store.getRun(id)));
        return rows.every((r) => r?.status === "running" && r.workerId === doomed.id && r.startedAt !== null);
      },
      120_000,
      "both gate runs to start on the first worker",
    );
    const survivor = await startWorker(2);
    assert.deepEqual(await liveIds(), [doomed.id, survivor.id].sort());

    await doomed.kill9();
    await eventually(async () => processesMatching(doomed.cache).length === 0, 30_000, "the killed worker's user processes to go with it");

    // The run without retries ends failed, naming the worker it died on; it is not left running.
    const failed = await eventually(
      async () => {
        const r = (await tp.api("GET", `/runs/${noRetry}`)).json.run;
        return TERMINAL.has(r.status) && r;
      },
      120_000,
      "the run without retries to end",
    );
    assert.deepEqual([failed.status, failed.attempt, failed.error?.name], ["failed", 1, "WorkerCrashError"]);
    assert.match(failed.error.message, new RegExp(`was running on worker ${doomed.id}\\b`));
    assert.match(failed.error.message, /no retries left/);

    // The run with a retry is taken by the surviving worker as attempt 2 (still waiting at the gate).
    await eventually(
      async () => {
        const r = await tp.platform.ctx.store.getRun(oneRetry);
        return r?.status === "running" && r.attempt === 2 && r.workerId === survivor.id && r.startedAt !== null;
      },
      120_000,
      "the retried run to start on the surviving worker",
    );
    gate.open();
    const done = await eventually(
      async () => {
        const r = (await tp.api("GET", `/runs/${oneRetry}`)).json.run;
        return TERMINAL.has(r.status) && r;
      },
      120_000,
      "the retried run to end",
    );
    assert.deepEqual([done.status, done.attempt, done.result], ["succeeded", 2, "passed"]);
    assert.equal((await tp.platform.ctx.store.getRun(oneRetry))?.workerId, survivor.id);
    const logs = (await tp.api("GET", `/runs/${oneRetry}/logs`)).json.logs.map((l: { line: string }) => l.line);
    assert.ok(logs.includes(`attempt 2 started on ${survivor.id}`), logs.join("\n"));
    // The dead worker was declared dead; the survivor is the only live one.
    assert.deepEqual(await liveIds(), [survivor.id]);
    await survivor.stop();
  });

  // Filled by (b): every answer callers got after the kill.
  const answers: Array<{ status: number; retryAfter: string | null; code?: string; message?: string }> = [];

  it("(b) the worker hosting a serving killed: callers get 503 or an answer, never a hang, and the serving answers again from the other worker", { timeout: 300_000 }, async (t) => {
    const pair = [await startWorker(1), await startWorker(1)];
    const { mod } = await importServingProject(KIT_FILES);
    const ws = wsName("chaos-b");
    const kit = await mod.Kit.deploy(ws, { client: tp.client, init: [5] });
    const hostOf = async () => (await tp.platform.ctx.store.listServings()).find((s) => s.urlPath === `/s/${ws}/Kit/`);
    const serving = await hostOf();
    const host = pair.find((w) => w.id === serving?.workerId);
    assert.ok(host, `the serving is placed on one of the two workers (${serving?.workerId})`);
    const pidCall = (signal: AbortSignal) => call(kit.$url.replace(/\/$/, ""), kit.$token, "POST", "/call/pid", { args: [] }, signal);
    const first = await pidCall(AbortSignal.timeout(REQUEST_TIMEOUT_MS));
    assert.equal(first.status, 200, JSON.stringify(first.json));
    const firstProcess = first.json.value;

    // An SDK handle rides through the move: its call, sent once callers see the serving unavailable,
    // is asked again (503 UNAVAILABLE: never delivered) until the serving answers from its new worker.
    const patient = await fromServing<{ pid(): Promise<number> }>(kit.$url, kit.$token, { retryUnavailableMs: 240_000 });
    let sdkCall: Promise<{ value: number } | { error: unknown }> | undefined;
    // Calls under way when the worker dies are answered at once, 503 WORKER_CRASHED (they may have
    // run, so nobody sends them again), never left hanging; the SDK rejects with WorkerCrashError.
    // `hang` never returns: the raw call runs in the child, the SDK's waits behind it (one at a time).
    const kitUrl = kit.$url.replace(/\/$/, "");
    const rawInFlight = call(kitUrl, kit.$token, "POST", "/call/hang", { args: [] }, AbortSignal.timeout(REQUEST_TIMEOUT_MS));
    const sdkInFlight = (kit.hang() as Promise<unknown>).then(() => undefined, (error: unknown) => error);
    await sleep(1_000); // the control plane forwards a call as it comes: both are at the worker now
    await host.kill9();
    const crashed = await rawInFlight.catch((err: Error) => assert.fail(`a call under way when the worker died did not answer within ${REQUEST_TIMEOUT_MS / 1000} s: ${err.message}`));
    assert.equal(crashed.status, 503, JSON.stringify(crashed.json));
    assert.equal(crashed.json?.error?.code, "WORKER_CRASHED", JSON.stringify(crashed.json));
    const sdkCrash = await sdkInFlight;
    assert.ok(sdkCrash instanceof WorkerCrashError, `the SDK's call under way rejects with WorkerCrashError, got ${String(sdkCrash)}`);
    let answered: { value: unknown } | undefined;
    for (let i = 0; i < SERVING_RETRIES && !answered; i++) {
      let r: Awaited<ReturnType<typeof pidCall>>;
      try {
        r = await pidCall(AbortSignal.timeout(REQUEST_TIMEOUT_MS));
      } catch (err) {
        assert.fail(`call ${i} after the kill did not answer within ${REQUEST_TIMEOUT_MS / 1000} s: ${(err as Error).message}`);
      }
      const retryAfter = r.headers.get("retry-after");
      answers.push({ status: r.status, retryAfter, code: r.json?.error?.code, message: r.json?.error?.message });
      assert.ok(r.status === 200 || r.status === 503, `call ${i} after the kill answered ${r.status}: ${JSON.stringify(r.json)}`);
      if (r.status === 200) answered = r.json;
      else sdkCall ??= patient.pid().then((value) => ({ value }), (error: unknown) => ({ error }));
      if (r.status !== 200) await sleep(Math.max(100, Math.min(2_000, Number(retryAfter ?? 0) * 1000 || 250)));
    }
    assert.ok(answered, `the serving answered again within ${SERVING_RETRIES} calls: ${JSON.stringify(answers.slice(-5))}`);
    assert.notEqual(answered.value, firstProcess, "a new serving process answers");
    assert.ok(sdkCall, "the SDK call went out while the serving was unavailable");
    const sdk = await sdkCall;
    assert.ok("value" in sdk, `the SDK call failed instead of waiting for the moved serving: ${"error" in sdk ? (sdk.error as Error).message : ""}`);
    assert.notEqual(sdk.value, firstProcess, "the SDK call was answered by the new serving process");
    // The other worker hosts it now (under a loaded machine a short lease can see that one declared dead
    // too and joined again under a new id, the serving placed anew: what matters is that it left the
    // killed worker and settles as ready).
    const moved = await until(async () => {
      const s = await hostOf();
      return s && s.workerId !== host.id && s.status === "ready" ? s : undefined;
    }, 60_000, "the serving ready on another worker");
    assert.notEqual(moved.workerId, host.id, "the serving left the killed worker");
    // It keeps answering there, and it is a fresh instance (init arguments applied again).
    assert.equal(await kit.x, 5);
    assert.equal(await kit.inc(), 6);
    assert.ok(answers.some((a) => a.status === 503), "callers saw the serving unavailable while it moved");
    t.diagnostic(`answers after the kill: ${JSON.stringify(answers)}`);
  });

  it("(b) every 503 a caller got while the serving moved carries Retry-After", () => {
    assert.ok(answers.length > 0, "runs after (b) above");
    const without = answers.filter((a) => a.status === 503 && a.retryAfter === null);
    assert.deepEqual(without, [], "503 answers without a Retry-After header");
  });
});

const RUNS = 2_000;

describe("chaos: control plane killed with -9", () => {
  const ups: NbxUp[] = [];
  const cleanup: Array<() => Promise<void>> = [];
  let cache: string;
  after(async () => {
    for (const up of ups) await up.kill9();
    // A local worker (or a user process of one) that outlived its control plane is a finding of
    // the test below; here it is only made sure that none outlives the test.
    if (cache) {
      for (const p of processesMatching(cache)) {
        try {
          process.kill(p.pid, "SIGKILL");
        } catch {
          // Gone meanwhile.
        }
      }
    }
    for (const f of cleanup.reverse()) await f();
  });

  it("(c) killed with thousands of runs queued and running, restarted on the same data folder: every run succeeds, none lost; its local worker does not outlive it", { timeout: 600_000 }, async (t) => {
    const data = STORE_UNDER_TEST === "postgres" ? tempDir("nbx-chaos-data-") : await freshDataDir();
    cache = tempDir("nbx-chaos-cache-");
    const args = ["--data", data, "--cache", cache, "--lease", String(LEASE_MS), "--slots", "2", "--no-sandbox"];
    args.push(...(await scaleArgs(cleanup)));
    const env = { NBOX_HOME: tempDir("nbx-chaos-home-") };
    const a = await startNbxUp(args, { env });
    ups.push(a);
    const client = new PlatformClient({ url: a.url, token: a.token });
    const ws = wsName("chaos-c");
    const { mod } = await importProject(CRASH_FIXTURE);
    // A run whose user code had started when the control plane died spends its attempt: one retry covers it.
    await mod.tiny.deploy(ws, { client, resource: { maxRetries: 1, retryBackoffMs: 100 } });
    const runs = await triggerRuns(client, { workspace: ws, name: "tiny" }, { batch: Array.from({ length: RUNS }, (_, i) => toWire([i]) as unknown[]) });
    const ids = runs.map((r) => r.id);
    const index = new Map(ids.map((id, i) => [id, i]));

    // Kill it while some runs are done, some held by its worker and some still queued.
    const finishedRuns = async (up: NbxUp) => (await call(up.url, up.token, "POST", "/api/v1/runs/wait", { ids, timeoutMs: 0 })).json.runs as Array<{ id: string; status: string; attempt: number; result: unknown; error: { name: string } | null }>;
    const someIn = async (status: string) => (await call(a.url, a.token, "GET", `/api/v1/runs?workspace=${ws}&status=${status}&limit=1`)).json.runs.length > 0;
    await until(
      async () => {
        const done = (await finishedRuns(a)).length;
        if (done === RUNS) throw new Error("every run finished before the control plane could be killed mid-way");
        return done > 0 && (await someIn("running")) && (await someIn("queued"));
      },
      300_000,
      "some runs to finish while others are running and queued",
      100,
    );
    const localWorkers = processesMatching(`--platform ${a.url}`).filter((p) => /\bworker\b/.test(p.cmd) && p.cmd.includes("--local"));
    assert.equal(localWorkers.length, 1, `the control plane runs one local worker: ${JSON.stringify(localWorkers)}`);
    await a.kill9();

    // Its local worker notices its parent is gone and stops, taking its user processes along.
    await until(async () => processesMatching(cache).length === 0, 60_000, "the killed control plane's local worker and its processes to exit", 100).catch((err) => {
      throw new Error(`${(err as Error).message}; still alive: ${JSON.stringify(processesMatching(cache), null, 1)}`);
    });

    const b = await startNbxUp(args, { env });
    ups.push(b);
    assert.equal(b.token, a.token, "the same data folder, the same admin token");
    const all = await until(
      async () => {
        const r = await finishedRuns(b);
        return r.length === RUNS && r;
      },
      480_000,
      `all ${RUNS} runs to finish after the restart`,
    );
    const notOk = all.filter((r) => r.status !== "succeeded");
    assert.deepEqual(notOk.slice(0, 10).map((r) => [r.id, r.status, r.attempt, r.error]), [], `${notOk.length} runs did not succeed`);
    for (const r of all) {
      assert.equal(r.result, index.get(r.id), `run ${r.id} answered for its own argument`);
      assert.ok(r.attempt <= 2, `run ${r.id} took ${r.attempt} attempts`);
    }
    // None lost and none added: the workspace holds exactly the batch.
    const listed = new Set<string>();
    for (let before: string | undefined; ; ) {
      const page = (await call(b.url, b.token, "GET", `/api/v1/runs?workspace=${ws}&limit=1000${before ? `&before=${before}` : ""}`)).json.runs as Array<{ id: string }>;
      for (const r of page) listed.add(r.id);
      if (page.length < 1000) break;
      before = page[page.length - 1]!.id;
    }
    assert.deepEqual([...listed].sort(), [...ids].sort());
    t.diagnostic(`runs recovered after the crash with a second attempt: ${all.filter((r) => r.attempt === 2).length}`);
  });
});


// A job that tells which worker ran it: its process runs in the bundle folder inside that worker's cache.
const WHERE_FILES: Record<string, string> = {
  "package.json": JSON.stringify({ name: "chaos-where", private: true, type: "module" }),
  "ops.ts": `import { operator } from "nbox";

export const where = operator(async function where(i: number, ms = 0) {
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  return [i, process.cwd()];
});
`,
};

describe("chaos: a remote worker and a control plane killed with -9", () => {
  const ups: NbxUp[] = [];
  const workers: WorkerProc[] = [];
  const cleanup: Array<() => Promise<void>> = [];
  let localCache: string;
  after(async () => {
    for (const w of workers) await w.kill9();
    for (const up of ups) await up.kill9();
    if (localCache) {
      for (const p of processesMatching(localCache)) {
        try {
          process.kill(p.pid, "SIGKILL");
        } catch {
          // Gone meanwhile.
        }
      }
    }
    for (const f of cleanup.reverse()) await f();
  });

  it("(d) a remote worker rides out a kill -9 and restart of its control plane: every run succeeds, and it goes on taking runs", { timeout: 600_000 }, async () => {
    const runsN = 600;
    const data = STORE_UNDER_TEST === "postgres" ? tempDir("nbx-chaos-data-") : await freshDataDir();
    localCache = tempDir("nbx-chaos-cache-");
    const port = await freePort();
    // The lease is long enough for the restart: the remote worker must not be declared dead meanwhile.
    const args = ["--port", String(port), "--data", data, "--cache", localCache, "--lease", "60000", "--slots", "1", "--no-sandbox"];
    args.push(...(await scaleArgs(cleanup)));
    const env = { NBOX_HOME: tempDir("nbx-chaos-home-") };
    const a = await startNbxUp(args, { env });
    ups.push(a);
    assert.equal(a.url, `http://127.0.0.1:${port}`);
    const token = await createWorkerToken(a.url, a.token, "chaos (d) remote worker");
    const remote = await startWorkerProcess({ url: a.url, token: token.secret, slots: 2 });
    workers.push(remote);
    const client = new PlatformClient({ url: a.url, token: a.token });
    const ws = wsName("chaos-d");
    const { mod } = await importServingProject(WHERE_FILES);
    await mod.where.deploy(ws, { client, resource: { maxRetries: 1, retryBackoffMs: 100 } });
    // A schedule that ticks every second through the outage: the ticks nobody fired meanwhile are reported.
    await mod.where.deploy(ws, { client, name: "ticker", schedule: { cron: "* * * * * *" } });
    const trigger = async (from: number, n: number, ms = 0) =>
      (await triggerRuns(client, { workspace: ws, name: "where" }, { batch: Array.from({ length: n }, (_, i) => toWire([from + i, ms]) as unknown[]) })).map((r) => r.id);
    type Done = { id: string; status: string; result: [number, string] | null; finishedAt: string | null; error: unknown };
    const finished = async (up: NbxUp, which: string[]) => (await call(up.url, up.token, "POST", "/api/v1/runs/wait", { ids: which, timeoutMs: 0 })).json.runs as Done[];
    // The remote worker's process is warm first: while it started, the local worker alone could
    // finish every run of the batch below before the moment to kill came (seen on a slow machine).
    let warmFrom = 10_000;
    await until(
      async () => {
        const warm = await trigger(warmFrom, 10);
        warmFrom += 10;
        const done = await until(
          async () => {
            const r = await finished(a, warm);
            return r.length === warm.length && r;
          },
          120_000,
          "warm-up runs to finish",
          50,
        );
        return done.some((r) => r.result?.[1].startsWith(remote.cache));
      },
      300_000,
      "the remote worker to finish a warm-up run",
      0,
    );
    // Each run of the batch to kill during takes 10 ms: on a fast machine, no-op runs had all
    // finished before a poll could see some running and some still queued.
    const ids = await trigger(0, runsN, 10);
    const someIn = async (status: string) => (await call(a.url, a.token, "GET", `/api/v1/runs?workspace=${ws}&status=${status}&limit=1`)).json.runs.length > 0;
    await until(
      async () => {
        const done = await finished(a, ids);
        if (done.length === runsN) throw new Error("every run finished before the control plane could be killed mid-way");
        return done.some((r) => r.result?.[1].startsWith(remote.cache)) && (await someIn("running")) && (await someIn("queued"));
      },
      300_000,
      "the remote worker to finish runs while others are running and queued",
      100,
    );
    await a.kill9();
    await until(async () => processesMatching(localCache).length === 0, 60_000, "the killed control plane's local worker to exit", 100);
    assert.equal(remote.child.exitCode, null, `the remote worker lives on:\n${remote.output()}`);
    await new Promise((r) => setTimeout(r, 3_000)); // ticks of the schedule come due while it is down

    const b = await startNbxUp(args, { env });
    ups.push(b);
    assert.equal(b.url, a.url);
    const restartedAt = Date.now();
    const more = await trigger(runsN, 200);
    const all = await until(
      async () => {
        const r = await finished(b, [...ids, ...more]);
        return r.length === ids.length + more.length && r;
      },
      480_000,
      "every run to finish after the restart",
    );
    const notOk = all.filter((r) => r.status !== "succeeded");
    assert.deepEqual(notOk.slice(0, 10).map((r) => [r.id, r.status, r.error]), [], `${notOk.length} runs did not succeed`);
    const index = new Map([...ids, ...more].map((id, i) => [id, i]));
    for (const r of all) assert.equal(r.result?.[0], index.get(r.id), `run ${r.id} answered for its own argument`);
    const byRemoteAfter = all.filter((r) => r.result![1].startsWith(remote.cache) && Date.parse(r.finishedAt!) >= restartedAt);
    assert.ok(byRemoteAfter.length > 0, "the remote worker finished runs after the control plane came back");
    assert.equal(remote.child.exitCode, null, `the remote worker is still up:\n${remote.output()}`);
    assert.doesNotMatch(remote.output(), /refused this worker/);
    // One event or two (the ticks a late fire's catch-up run stands for; those the queue never fired).
    const missedTicks = async () => {
      const events = (await call(b.url, b.token, "GET", `/api/v1/events?workspace=${ws}&kind=schedule.missed`)).json.events as Array<{ message: string; data: { missed: number } }>;
      return events.filter((e) => /ticker/.test(e.message)).reduce((n, e) => n + e.data.missed, 0);
    };
    await until(async () => (await missedTicks()) >= 2, 60_000, "the ticks missed while the control plane was down to be reported", 200);
    await call(b.url, b.token, "POST", `/api/v1/workspaces/${ws}/deployments/ticker/schedule`, { enabled: false });
    await remote.stop();
    await token.revoke();
  });
});
