// Chaos: Redis goes away for 5 s while runs are queued and running (Postgres store, BullMQ, two
// `nbx worker` processes, no local worker). The outage is a cut in a TCP proxy in front of the
// shared test Redis, which is never stopped or flushed: the control plane and the workers (they get
// the proxy's URL at registration) lose every connection, and reconnects are closed at once.
// Every trigger during the outage is answered 201 (its run then succeeds once Redis is back) or
// with a clear 503 naming Redis (and then no run of it is left unfinished); no run is lost, stays
// queued or running, or fails because of the outage; cancels during it hold; the workers go on.
// `npm run test:chaos` runs this file too.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { toWire } from "../../src/codec/index.ts";
import { deploymentQueueName } from "../../src/queue/bullmq-names.ts";
import { freshPostgresSchema } from "../platform/jobs/_helpers.ts";
import { postgresUnavailable } from "../platform/store/pg-harness.ts";
import { deleteKeys, freshPrefix, redisUnavailable } from "../queue/_redis.ts";
import { call, createWorkerToken, importProject, REPO, startTestPlatform, startWorkerProcess, tempDir, until, wsName, type TestPlatform, type WorkerProc } from "./_helpers.ts";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.ts";

// Short enough that the locks of runs held during the outage lapse (BullMQ's lock lasts one lease
// and the workers' reconnects back off), long enough that a loaded machine does not declare a live
// worker dead.
const LEASE_MS = 5_000;
const OUTAGE_MS = 5_000;
const SLOTS = 3;
const TINY_RUNS = 300;
const SLOW_RUNS = 24;
const SLOW_MS = 1_000;
// Hang guards only: nothing asserts how fast anything happens.
const SETTLE_AFTER_RESTORE_MS = 60_000;
const TERMINAL = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A worker's ids at the control plane: the one it joined with, then one per join after being declared dead. */
const joinedAs = (w: WorkerProc): string[] => [w.id, ...[...w.output().matchAll(/declared dead by the control plane; joined again as (\S+)/g)].map((m) => m[1]!)];

// Outside CI a missing Redis or Postgres skips the file with the reason; in CI it fails.
const missing = (await redisUnavailable()) ?? (await postgresUnavailable());
const skip = missing && process.env.CI !== "true" ? missing : false;

interface RunView {
  id: string;
  deployment: string;
  status: string;
  attempt: number;
  result: unknown;
  error: { name: string; message: string } | null;
  startedAt: string | null;
}

/** One trigger request and what it was answered. */
interface Answer {
  what: string;
  status: number;
  json: any;
  ids: string[];
}

describe("chaos: Redis stops for 5 s under load", { skip }, () => {
  let proxy: TcpProxy;
  let schema: Awaited<ReturnType<typeof freshPostgresSchema>>;
  const prefix = freshPrefix();
  let tp: TestPlatform;
  let token: Awaited<ReturnType<typeof createWorkerToken>>;
  const workers: WorkerProc[] = [];
  const ws = wsName("chaos-redis");
  let fooOp: any;

  before(async () => {
    proxy = await startTcpProxy(Number(new URL(process.env.NBOX_TEST_REDIS_URL ?? "redis://127.0.0.1:6379").port || 6379));
    schema = await freshPostgresSchema();
    tp = await startTestPlatform({ executor: false, leaseMs: LEASE_MS, databaseUrl: schema.databaseUrl, redisUrl: proxy.url("redis"), queuePrefix: prefix }, tempDir("nbx-chaos-redis-data-"));
    // Deployed before any worker joins: packing a bundle is heavy work in this process, which is
    // also the control plane that must hear the workers' heartbeats. One retry covers a worker
    // declared dead by a loaded machine; the outage itself must spend none.
    const { mod: fooProject } = await importProject(join(REPO, "examples/foo"));
    const { mod: basic } = await importProject("basic");
    const resource = { maxRetries: 1, retryBackoffMs: 100 };
    await fooProject.foo.deploy(ws, { client: tp.client, resource });
    fooOp = fooProject.foo;
    await basic.sleeper.deploy(ws, { client: tp.client, resource });
    token = await createWorkerToken(tp.url, tp.token, "redis chaos workers");
    for (let i = 0; i < 2; i++) workers.push(await startWorkerProcess({ url: tp.url, token: token.secret, slots: SLOTS }));
  });

  after(async () => {
    proxy?.restore();
    await Promise.all(workers.map((w) => w.stop()));
    await token?.revoke();
    await tp?.close();
    await proxy?.close();
    await schema?.drop();
    await deleteKeys(prefix);
  });

  it("triggers during the outage are queued (201) or refused clearly (503); every run ends, none lost or failed; the workers go on", { timeout: 300_000 }, async (t) => {
    const expected = new Map<string, unknown>();
    const trigger = async (what: string, name: "foo" | "sleeper", items: number[], opts: { batch?: boolean; wait?: boolean } = {}): Promise<Answer> => {
      const body = opts.batch ? { batch: items.map((x) => toWire([x]) as unknown[]) } : { args: toWire([items[0]]) as unknown[], ...(opts.wait ? { wait: true } : {}) };
      const r = await call(tp.url, tp.token, "POST", `/api/v1/workspaces/${ws}/deployments/${name}/runs`, body);
      const runs: Array<{ id: string }> = r.status === 201 ? (r.json.runs ?? [r.json.run]) : [];
      runs.forEach((run, i) => expected.set(run.id, name === "foo" ? items[i]! * items[i]! : items[i]));
      return { what, status: r.status, json: r.json, ids: runs.map((run) => run.id) };
    };
    const runsOf = async (status?: string): Promise<RunView[]> => {
      const all: RunView[] = [];
      for (let before: string | undefined; ; ) {
        const page = (await call(tp.url, tp.token, "GET", `/api/v1/runs?workspace=${ws}&limit=1000${status ? `&status=${status}` : ""}${before ? `&before=${before}` : ""}`)).json.runs as RunView[];
        all.push(...page);
        if (page.length < 1000) return all;
        before = page[page.length - 1]!.id;
      }
    };
    const getRun = async (id: string): Promise<RunView> => (await call(tp.url, tp.token, "GET", `/api/v1/runs/${id}`)).json.run;

    // Both versions prepared before the load: the outage, not a first install, is what is measured.
    for (const name of ["foo", "sleeper"] as const) {
      const a = await trigger(`warm-up ${name}`, name, [0]);
      assert.equal(a.status, 201, JSON.stringify(a.json));
      await until(async () => (await getRun(a.ids[0]!)).status === "succeeded", 120_000, `the warm-up run of ${name}`);
    }

    // The load: slow runs keep every slot busy through the outage, tiny ones queue behind them.
    const load = [await trigger("slow batch", "sleeper", Array(SLOW_RUNS).fill(SLOW_MS), { batch: true }), await trigger("tiny batch", "foo", Array.from({ length: TINY_RUNS }, (_, i) => i), { batch: true })];
    for (const a of load) assert.equal(a.status, 201, `${a.what}: ${JSON.stringify(a.json)}`);
    await until(async () => (await runsOf("running")).length > 0, 120_000, "runs of the load to be running");

    // ---- Redis goes away.
    const cutAt = Date.now();
    proxy.cut();
    const during: Answer[] = [];
    const inFlight: Array<Promise<Answer>> = [];
    const cancels: Array<{ id: string; status: number; json: any; fromLoad: boolean }> = [];
    // A run of the load still waiting when Redis went away, cancelled during the outage.
    const waiting = (await runsOf("queued")).find((r) => r.deployment === "sleeper");
    if (waiting) {
      const r = await call(tp.url, tp.token, "POST", `/api/v1/runs/${waiting.id}/cancel`);
      cancels.push({ id: waiting.id, status: r.status, json: r.json, fromLoad: true });
    }
    // A deploy during the outage: its queue settings (a concurrency limit) wait for Redis, the deploy does not fail.
    const deployedDuring = await fooOp.deploy(ws, { client: tp.client, name: "foo-during-outage", resource: { concurrency: 2 } }).then(
      (remote: any) => ({ remote }),
      (err: Error) => ({ err }),
    );
    for (let round = 0; Date.now() - cutAt < OUTAGE_MS - 1_000; round++) {
      during.push(await trigger(`single foo #${round}`, "foo", [1000 + round]));
      during.push(await trigger(`single sleeper #${round}`, "sleeper", [SLOW_MS]));
      during.push(await trigger(`batch foo #${round}`, "foo", Array.from({ length: 10 }, (_, i) => 2000 + 10 * round + i), { batch: true }));
      // A caller that waits for the result: answered once the run has run, or still queued after a while.
      inFlight.push(trigger(`waiting foo #${round}`, "foo", [3000 + round], { wait: true }));
      // Triggered and cancelled while Redis is away: it must never run.
      const doomed = await trigger(`cancelled sleeper #${round}`, "sleeper", [SLOW_MS]);
      during.push(doomed);
      if (doomed.ids[0]) {
        const r = await call(tp.url, tp.token, "POST", `/api/v1/runs/${doomed.ids[0]}/cancel`);
        cancels.push({ id: doomed.ids[0], status: r.status, json: r.json, fromLoad: false });
      }
      await sleep(500);
    }
    await sleep(Math.max(0, cutAt + OUTAGE_MS - Date.now()));
    // ---- Redis is back.
    proxy.restore();
    const restoredAt = Date.now();
    during.push(...(await Promise.all(inFlight)));

    // Every answer is a run queued (201) or a clear refusal naming Redis and what to do.
    for (const a of during) {
      if (a.status === 201) continue;
      assert.equal(a.status, 503, `${a.what}: HTTP ${a.status} ${JSON.stringify(a.json)}`);
      assert.equal(a.json?.error?.code, "UNAVAILABLE", `${a.what}: ${JSON.stringify(a.json)}`);
      assert.match(a.json.error.message, /Redis at redis:\/\/127\.0\.0\.1:\d+\/? is unreachable/, a.what);
      assert.match(a.json.error.message, /Start Redis|--redis/, `${a.what}: the message says what to do`);
    }
    assert.ok(proxy.refused > 0, "the outage was felt: reconnects were closed while Redis was away");
    for (const c of cancels) assert.equal(c.status, 200, `cancel of ${c.id} during the outage: HTTP ${c.status} ${JSON.stringify(c.json)}`);
    assert.ok(!("err" in deployedDuring), `a deploy during the outage failed: ${"err" in deployedDuring ? deployedDuring.err.message : ""}`);
    const refused = during.filter((a) => a.status !== 201);
    t.diagnostic(`during the outage: ${during.length - refused.length} triggers answered 201, ${refused.length} refused (${[...new Set(refused.map((a) => a.json?.error?.message))].join(" | ")}); ${proxy.refused} reconnects closed`);

    // Every run of the workspace ends (those of refused triggers too, if any were stored).
    const ids = [...expected.keys()];
    const settled = await until(
      async () => {
        const all = await runsOf();
        return all.every((r) => TERMINAL.has(r.status)) && all;
      },
      SETTLE_AFTER_RESTORE_MS,
      "every run to end after Redis came back",
    ).catch(async (err) => {
      const open = (await runsOf()).filter((r) => !TERMINAL.has(r.status));
      throw new Error(`${(err as Error).message}: ${open.length} runs still open, e.g. ${JSON.stringify(open.slice(0, 5).map((r) => [r.id, r.deployment, r.status, r.attempt]))}`);
    });
    t.diagnostic(`all ${settled.length} runs ended ${((Date.now() - restoredAt) / 1000).toFixed(1)} s after Redis came back`);

    // None lost: every run a 201 named is there.
    const byId = new Map(settled.map((r) => [r.id, r]));
    const lost = ids.filter((id) => !byId.has(id));
    assert.deepEqual(lost, [], "runs answered 201 but missing from the store");
    // None failed because of the outage, and each ran for its own argument in its first attempt
    // (a second only if the loaded machine had a worker declared dead, which the outage does not do).
    const rejoined = workers.filter((w) => joinedAs(w).length > 1);
    const cancelled = new Set(cancels.map((c) => c.id));
    const bad = settled.filter((r) => (cancelled.has(r.id) ? r.status === "failed" : r.status !== "succeeded") || r.attempt > (rejoined.length > 0 ? 2 : 1));
    assert.deepEqual(
      bad.slice(0, 10).map((r) => [r.id, r.deployment, r.status, r.attempt, r.error]),
      [],
      `${bad.length} runs did not succeed in their first attempt`,
    );
    if (rejoined.length > 0) t.diagnostic(`declared dead and joined again (not the outage: heartbeats go over HTTP): ${rejoined.map((w) => joinedAs(w).join(" → ")).join("; ")}`);
    for (const r of settled) if (expected.has(r.id) && r.status === "succeeded") assert.deepEqual(r.result, toWire(expected.get(r.id)), `run ${r.id} answered for its own argument`);
    // A cancel during the outage holds: a run cancelled while queued never starts later.
    for (const c of cancels) {
      const r = byId.get(c.id)!;
      // Triggered during the outage, it cannot have left the store's queue before the cancel.
      if (!c.fromLoad) assert.equal(c.json.run.status, "cancelled", `run ${c.id}: the cancel answered ${JSON.stringify(c.json.run)}`);
      if (c.json.run.status === "cancelled") {
        assert.equal(r.status, "cancelled", `run ${c.id} cancelled while queued`);
        assert.equal(r.startedAt, null, `run ${c.id} was cancelled while queued but started once Redis was back`);
      } else {
        // Held by a worker when the cancel came: stopped there, or finished first.
        assert.ok(r.status === "cancelled" || r.status === "succeeded", `run ${c.id} cancelled while ${c.json.run.status}: ${r.status}`);
      }
    }

    // The workers are alive, registered, and both take new runs.
    for (const w of workers) assert.equal(w.child.exitCode, null, `worker ${w.id} exited:\n${w.output()}`);
    const live = (await tp.platform.ctx.store.listLiveWorkers()).map((w) => w.id);
    for (const w of workers) assert.ok(live.includes(joinedAs(w).at(-1)!), `worker ${joinedAs(w).join(" → ")} is registered (live: ${live.join(", ")})\n${w.output()}`);
    const ranAfter = new Set<string>();
    await until(
      async () => {
        const a = await trigger("after the outage", "sleeper", Array(2 * SLOTS).fill(200), { batch: true });
        assert.equal(a.status, 201, JSON.stringify(a.json));
        await until(async () => (await tp.platform.ctx.store.getRuns(a.ids)).every((r) => r.status === "succeeded") || null, 60_000, "runs triggered after the outage");
        for (const r of await tp.platform.ctx.store.getRuns(a.ids)) if (r.workerId) ranAfter.add(r.workerId);
        return workers.every((w) => ranAfter.has(joinedAs(w).at(-1)!));
      },
      60_000,
      "both workers to run runs triggered after the outage",
      0,
    );

    // The deploy made during the outage runs now, under the concurrency limit it asked for.
    assert.equal(await (deployedDuring as { remote: (x: number) => Promise<number> }).remote(7), 49);
    const wsRow = (await tp.platform.ctx.store.getWorkspaceByName(ws))!;
    const d = (await tp.platform.ctx.store.getDeployment(wsRow.id, "foo-during-outage"))!;
    const conn = new Redis(process.env.NBOX_TEST_REDIS_URL ?? "redis://127.0.0.1:6379", { maxRetriesPerRequest: null });
    const q = new Queue(deploymentQueueName(d.id), { connection: conn, prefix });
    try {
      await until(async () => (await q.getGlobalConcurrency()) === 2, 30_000, "the concurrency asked for during the outage to be set once Redis was back");
    } finally {
      await q.close();
      await conn.quit();
    }
  });
});
