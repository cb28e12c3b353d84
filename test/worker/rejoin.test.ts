// A worker the control plane declared dead (paused longer than a lease: SIGSTOP) joins again under
// a new id. The control plane took back every run it held and may already run them elsewhere, so the
// worker must stop the user code it still runs for them and drop the runs it claimed ahead: a run
// must never execute twice at once; a serving placed on it again starts afresh, so the control plane
// hears it ready. End to end, the job writes a marker file per execution (start and end), so a second
// execution shows; in process, the run loop is driven across a rejoin with a scripted control plane
// (the BullMQ source's case is in bull-source.test.ts).
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { toWire } from "../../src/codec/index.ts";
import type { ControlPlane } from "../../src/worker/control-plane.ts";
import { ProcessPool } from "../../src/worker/jobs/index.ts";
import { RunExecutor, type RunExecutorDeps, type RunRow } from "../../src/worker/run-executor.ts";
import { RunLoop } from "../../src/worker/run-loop.ts";
import { OPS as EXECUTOR_OPS } from "../platform/executor/ops-fixture.ts";
import { tempProject } from "../platform/executor/_project.ts";
import { alive, createWorkerToken, eventually, importProject, REPO, startTestPlatform, startWorkerProcess, tempDir, wsName, type TestPlatform, type WorkerProc } from "./_helpers.ts";
import { TEST_REDIS_URL, deleteKeys, freshPrefix, redisSkip, until } from "../queue/_redis.ts";
import { startGate } from "./_gate.ts";

// Short enough to keep the test quick, long enough that a loaded machine does not declare a live worker dead.
const LEASE_MS = 4_000;
// Hang guards only: nothing asserts how fast anything happens.
const WAIT_MS = 120_000;

const OPS = `// @ts-nocheck -- a standalone project, linked to nbox once copied
import { writeFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { operator } from "nbox";

/** Marks its start (key, pid), waits until the gate at \`gate\` answers "open", then marks its end. */
export const marked = operator(async function marked(dir: string, key: string, gate: string) {
  writeFileSync(\`\${dir}/\${key}.start.\${process.pid}.\${randomUUID()}\`, "");
  for (;;) {
    const state = await fetch(gate).then((r) => r.text(), () => "");
    if (state === "open") break;
    await sleep(25);
  }
  writeFileSync(\`\${dir}/\${key}.done.\${process.pid}.\${randomUUID()}\`, "");
  return key;
});
`;

function markedProject(): string {
  const dir = tempDir("nbx-rejoin-proj-");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "rejoin-fixture", type: "module", dependencies: { nbox: "*" } }));
  writeFileSync(join(dir, "ops.ts"), OPS);
  return dir;
}


/** Let a paused process run again (gone already: nothing to do). */
const resume = (pid: number) => {
  try {
    process.kill(pid, "SIGCONT");
  } catch {
    // Exited.
  }
};


/** Marker files of `key`: the pid of each execution that started, and of each that ended. */
function markers(dir: string, key: string): { started: number[]; done: number[] } {
  const out = { started: [] as number[], done: [] as number[] };
  for (const f of readdirSync(dir)) {
    const [k, what, pid] = f.split(".");
    if (k !== key) continue;
    if (what === "start") out.started.push(Number(pid));
    if (what === "done") out.done.push(Number(pid));
  }
  return out;
}

interface Scenario {
  queue: "embedded" | "bullmq";
  /** Also a run claimed ahead and not started when the worker is paused (held back by its deployment's limit). */
  ahead: boolean;
}

function scenario(s: Scenario) {
  let tp: TestPlatform;
  let token: Awaited<ReturnType<typeof createWorkerToken>>;
  const prefix = freshPrefix();
  const workers: WorkerProc[] = [];
  const cleanup: Array<() => Promise<unknown>> = [];

  before(async () => {
    tp = await startTestPlatform({ executor: false, leaseMs: LEASE_MS, ...(s.queue === "bullmq" ? { redisUrl: TEST_REDIS_URL, queuePrefix: prefix } : {}) });
    token = await createWorkerToken(tp.url, tp.token, "rejoin test workers");
  });
  afterEach(async () => {
    // A paused worker must run again to stop; every process started here ends with the test.
    for (const w of workers) resume(w.pid);
    for (const w of workers.splice(0)) await w.stop();
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  after(async () => {
    await token?.revoke();
    await tp?.close();
    if (s.queue === "bullmq") await deleteKeys(prefix);
  });

  const title = s.ahead
    ? "the calls it still ran for its old runs are killed and the run it claimed ahead is dropped: each run executes once at a time, its side effect once"
    : "the call it still ran for its old run is killed: the run executes once at a time, its side effect once";
  it(title, { timeout: 300_000 }, async () => {
    const store = tp.platform.ctx.store;
    const gate = await startGate();
    cleanup.push(() => gate.close());
    const marks = tempDir("nbx-rejoin-marks-");
    const { mod } = await importProject(markedProject());
    const resource = { maxRetries: 1, retryBackoffMs: 100, ...(s.ahead ? { concurrency: 1 } : {}) };
    const job = await mod.marked.deploy(wsName(`rejoin-${s.queue}`), { client: tp.client, name: "marked", resource });

    // Queued before the worker joins, so its first claim takes both: one starts, the other waits
    // for its deployment's limit (claimed, not started).
    const keys = s.ahead ? ["r1", "r2"] : ["r1"];
    const ids = new Map<string, string>();
    for (const k of keys) ids.set(k, (await job.trigger(marks, k, gate.url)).id);
    const r1 = ids.get("r1")!;
    const r2 = ids.get("r2");

    // Unsandboxed, so the pid the job marks is the pid this test sees.
    const doomed = await startWorkerProcess({ url: tp.url, token: token.secret, slots: 2, args: ["--no-sandbox"] });
    workers.push(doomed);
    const explain = async () => JSON.stringify({ runs: await Promise.all([...ids.values()].map((id) => store.getRun(id))), marks: readdirSync(marks), worker: doomed.output() });
    await eventually(
      async () => {
        const a = await store.getRun(r1);
        const b = r2 ? await store.getRun(r2) : undefined;
        const held = a?.status === "running" && a.workerId === doomed.id && a.startedAt !== null && markers(marks, "r1").started.length === 1;
        return held && (!r2 || (b?.status === "running" && b.workerId === doomed.id && b.startedAt === null));
      },
      WAIT_MS,
      s.ahead ? "r1 to run on the first worker and r2 to wait there, claimed" : "r1 to run on the first worker",
      explain,
    );
    const [firstPid] = markers(marks, "r1").started;
    assert.ok(firstPid !== undefined && alive(firstPid));

    // Another worker to take the runs the control plane takes back.
    workers.push(await startWorkerProcess({ url: tp.url, token: token.secret, slots: 2, args: ["--no-sandbox"] }));

    // Paused (its user processes, in groups of their own, run on) until declared dead and its runs taken back.
    process.kill(doomed.pid, "SIGSTOP");
    await eventually(async () => (await store.getWorker(doomed.id))?.goneAt != null, WAIT_MS, "the paused worker to be declared dead", explain);
    await eventually(async () => (await Promise.all([...ids.values()].map((id) => store.getRun(id)))).every((r) => r?.workerId !== doomed.id), WAIT_MS, "its runs to be taken back", explain);
    assert.ok(alive(firstPid), "the paused worker's user process ran on meanwhile");

    process.kill(doomed.pid, "SIGCONT");
    const newId = await eventually(async () => /joined again as (\S+)/.exec(doomed.output())?.[1], WAIT_MS, "the worker to join again", explain);
    assert.notEqual(newId, doomed.id);
    // Its old call is stopped, not left running beside the attempt the control plane handed out again.
    await eventually(async () => !alive(firstPid), 60_000, `the user process ${firstPid} of r1's taken-back attempt to be stopped after the rejoin`, explain);

    gate.open();
    await eventually(
      async () => (await Promise.all([...ids.values()].map((id) => store.getRun(id)))).every((r) => r?.status === "succeeded"),
      WAIT_MS,
      "every run to succeed",
      explain,
    );
    assert.equal((await store.getRun(r1))?.attempt, 2, "r1's first attempt counted (it had started)");

    // Stopped: nothing can write a marker any more.
    for (const w of workers.splice(0)) {
      resume(w.pid);
      await w.stop();
    }
    const m1 = markers(marks, "r1");
    assert.equal(m1.started.length, 2, `r1 started once per attempt: ${JSON.stringify(m1)}`);
    assert.equal(m1.done.length, 1, `r1's side effect happened once: ${JSON.stringify(m1)}`);
    assert.ok(!m1.done.includes(firstPid), "the taken-back attempt never reached its end");
    if (r2) {
      const m2 = markers(marks, "r2");
      assert.deepEqual([m2.started.length, m2.done.length], [1, 1], `r2, claimed ahead and taken back, executed once: ${JSON.stringify(m2)}`);
    }
    assert.equal(doomed.output().match(/was declared dead by the control plane/g)?.length, 1, `it joined again once:\n${doomed.output()}`);
  });
}

describe("a worker declared dead joins again clean (embedded queue)", () => scenario({ queue: "embedded", ahead: true }));

describe("a worker declared dead joins again clean (BullMQ)", { skip: await redisSkip() }, () => scenario({ queue: "bullmq", ahead: false }));

describe("a worker declared dead joins again clean: the serving it hosted", () => {
  let tp: TestPlatform;
  let worker: WorkerProc | undefined;
  let token: Awaited<ReturnType<typeof createWorkerToken>> | undefined;
  before(async () => {
    // Beats (a third of the lease) further apart than the router places servings (every 2 s): the
    // serving is placed on the new id before the worker's first beat under it, which would
    // otherwise stop it for not being assigned and hide a serving kept running but never reported.
    tp = await startTestPlatform({ executor: false, leaseMs: 12_000 });
  });
  after(async () => {
    if (worker) resume(worker.pid);
    await worker?.stop();
    await token?.revoke();
    await tp?.close();
  });

  it("placed on it again under its new id, the serving starts afresh and is reported ready: a redeploy of the same code does not wait for it in vain", { timeout: 300_000 }, async () => {
    const store = tp.platform.ctx.store;
    token = await createWorkerToken(tp.url, tp.token, "rejoin serving test worker");
    worker = await startWorkerProcess({ url: tp.url, token: token.secret, slots: 1, args: ["--no-sandbox"] });
    const w = worker;
    const { mod } = await importProject(join(REPO, "examples/bar"));
    const ws = wsName("rejoin-serving");
    const bar = await mod.Bar.deploy(ws, { client: tp.client });
    await bar.inc();
    assert.equal(await bar.x, 2);
    const serving = async () => (await store.listServings()).find((s) => s.urlPath === `/s/${ws}/Bar/`);
    const explain = async () => JSON.stringify({ serving: await serving(), worker: w.output() });

    // The only worker: declared dead, its serving has nowhere to go until it joins again.
    process.kill(w.pid, "SIGSTOP");
    await eventually(async () => (await store.getWorker(w.id))?.goneAt != null, WAIT_MS, "the paused worker to be declared dead", explain);
    resume(w.pid);
    const newId = await eventually(async () => /joined again as (\S+)/.exec(w.output())?.[1], WAIT_MS, "the worker to join again", explain);
    await eventually(async () => {
      const s = await serving();
      return s?.workerId === newId && s.status === "ready";
    }, WAIT_MS, "the serving placed on the new id and reported ready there", explain);
    assert.equal(await bar.x, 1, "a fresh instance answers");
    // Ready on a live worker: the same code is not started again, the deploy answers at once.
    const again = await mod.Bar.deploy(ws, { client: tp.client });
    assert.equal(await again.x, 1);
  });
});

const row = (id: string, versionId: string, args: unknown[]): RunRow =>
  ({ id, attempt: 1, maxRetries: 0, retryBackoffMs: 0, timeoutMs: null, workspaceId: "ws", deploymentId: versionId, versionId, args: args.map((a) => toWire(a)), traceparent: null, cancelRequested: false }) as unknown as RunRow;

describe("a rejoin at the run loop and executor (in process)", () => {
  it("the call of the old registration is killed and reported no more, the run waiting for a slot is dropped, a claim answered across the rejoin brings nothing", { timeout: 60_000 }, async () => {
    const project = await tempProject(EXECUTOR_OPS);
    const seen = { logs: [] as string[], started: [] as string[], finished: [] as string[], requeued: [] as string[], held: [] as string[] };
    const output = {
      log: (id: string, stream: string, line: string) => void seen.logs.push(`${id} ${stream} ${line}`),
      span() {},
      started: (id: string) => void seen.started.push(id),
      ended() {},
      finish: async (f: { id: string }) => void seen.finished.push(f.id),
      requeue: async (q: { id: string }) => (seen.requeued.push(q.id), true),
      hold: (ids: Iterable<string>) => void seen.held.push(...ids),
    };
    const me = { id: "wrk_old" };
    const pool = new ProcessPool({ slots: 2 });
    const executor = new RunExecutor({
      me,
      pool,
      output,
      versions: {
        // One run at a time of this deployment: a second one claimed waits here for the first.
        manifest: async () => ({ entry: "ops.ts", export: "sleep", kind: "fn", init: [], resource: { concurrency: 1 }, contentHash: "h" }),
        prepare: async () => project.dir,
      },
      launcher: { forWorkspace: async () => undefined, forWarmCall: async () => undefined },
    } as unknown as RunExecutorDeps);
    // Claims wait for the test to answer them (or for the loop to stop); once `scripted` is over,
    // each is answered empty a moment later, as a claim held open on an empty queue is.
    const claims: Array<{ workerId: string; answer(runs: RunRow[]): void }> = [];
    let scripted = true;
    const cp = {
      call: (_route: string, input: { body: { workerId: string }; signal: AbortSignal }) =>
        new Promise((resolve, reject) => {
          const answer = (runs: RunRow[]) => resolve({ runs });
          claims.push({ workerId: input.body.workerId, answer });
          if (!scripted) setTimeout(() => answer([]), 50);
          input.signal.addEventListener("abort", () => reject(input.signal.reason), { once: true });
        }),
    } as unknown as ControlPlane;
    const loop = new RunLoop({ cp, me, slots: 2, executor, held: output });
    loop.start();
    try {
      await until(() => claims.length === 1, "the first claim");
      claims[0]!.answer([row("run_a", "ver_sleep", [60_000]), row("run_b", "ver_sleep", [60_000])]);
      await until(() => seen.started.includes("run_a"), "run_a's call to start");
      const [proc] = pool.processes();
      assert.ok(proc?.alive);
      // A slot is free: the loop claims again, under the old id; the answer comes after the rejoin.
      await until(() => claims.length === 2, "a second claim while run_a runs");
      const logsBefore = seen.logs.length;
      // Declared dead: what worker.ts does on the NOT_FOUND, then the new registration.
      executor.abandonAll();
      loop.rejoined();
      me.id = "wrk_new";
      claims[1]!.answer([row("run_c", "ver_sleep", [0])]);
      await until(() => !proc.alive, "run_a's process to be killed");
      const fresh = await until(() => claims.find((c) => c.workerId === "wrk_new"), "a claim under the new id");
      scripted = false;
      fresh.answer([row("run_d", "ver_sleep", [0])]);
      await until(() => seen.finished.includes("run_d"), "run_d, claimed under the new id, to run");
      assert.deepEqual(seen.finished, ["run_d"], "nothing reported for the abandoned call");
      assert.deepEqual(seen.requeued, [], "the dropped run is not handed back (the control plane took it)");
      assert.deepEqual(seen.started, ["run_a", "run_d"], "neither run_b (waiting) nor run_c (claimed under the old id) started");
      assert.deepEqual(seen.held, ["run_a", "run_b", "run_d"], "run_c is not held");
      assert.deepEqual(seen.logs.slice(logsBefore).filter((l) => !l.startsWith("run_d ")), [], "no log line of the abandoned call after the rejoin");
    } finally {
      await loop.stop();
      await pool.close();
      await project.cleanup();
    }
  });
});
