// The BullMQ run path under the failures an operator meets (Postgres store, Redis behind a proxy the
// test can cut, one `nbx worker` process): what the queue does must agree with what the store says.
// - A retried run waits in BullMQ as long as the store says (the capped backoff the API shows), not
//   BullMQ's own uncapped backoff.
// - Redis that comes back without its data (a restart without persistence) gets every schedule and
//   every deployment's limit back, not only the queued runs: else cron stops firing for good.
// - Redis that loses its data with every connection up (FLUSHALL, an eviction) gets it back too.
// - A run taken back from a dead worker whose job its cut-off holder completes at that very moment
//   gets a job again.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Job, Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { toWire } from "../../src/codec/index.ts";
import { BullRunQueue } from "../../src/platform/queue/bullmq-queue.ts";
import { MAX_RETRY_BACKOFF_MS } from "../../src/contract/retry.ts";
import { deploymentQueueName } from "../../src/queue/bullmq-names.ts";
import { eventually, freshPostgresSchema, importProject, startTestPlatform, tempDir, wsName, type TestPlatform } from "../platform/jobs/_helpers.ts";
import { postgresUnavailable } from "../platform/store/pg-harness.ts";
import { createWorkerToken, startWorkerProcess, type WorkerProc } from "../worker/_helpers.ts";
import { startTcpProxy, type TcpProxy } from "../worker/tcp-proxy.ts";
import { TEST_REDIS_URL, deleteKeys, freshPrefix, redisUnavailable } from "./_redis.ts";

const LEASE_MS = 5_000;

// Outside CI a missing Redis or Postgres skips the file with the reason; in CI it fails.
const missing = (await redisUnavailable()) ?? (await postgresUnavailable());
const skip = missing && process.env.CI !== "true" ? missing : false;

describe("BullMQ run path under failures", { skip }, () => {
  const prefix = freshPrefix();
  let proxy: TcpProxy;
  let schema: Awaited<ReturnType<typeof freshPostgresSchema>>;
  let tp: TestPlatform;
  let token: Awaited<ReturnType<typeof createWorkerToken>>;
  let worker: WorkerProc;
  let redis: Redis;
  let basic: any;
  const queues: Queue[] = [];
  /** The deployment's queue, straight on Redis (not through the proxy). */
  const queueOf = (deploymentId: string) => {
    const q = new Queue(deploymentQueueName(deploymentId), { connection: { url: TEST_REDIS_URL }, prefix });
    queues.push(q);
    return q;
  };

  before(async () => {
    proxy = await startTcpProxy(Number(new URL(TEST_REDIS_URL).port || 6379), new URL(TEST_REDIS_URL).hostname);
    schema = await freshPostgresSchema();
    tp = await startTestPlatform({ executor: false, leaseMs: LEASE_MS, databaseUrl: schema.databaseUrl, redisUrl: proxy.url("redis"), queuePrefix: prefix }, tempDir("nbx-bullmq-attack-data-"));
    ({ mod: basic } = await importProject("basic"));
    token = await createWorkerToken(tp.url, tp.token, "bullmq attack worker");
    worker = await startWorkerProcess({ url: tp.url, token: token.secret, slots: 2 });
    redis = new Redis(TEST_REDIS_URL);
  });

  after(async () => {
    proxy?.restore();
    for (const q of queues) await q.close().catch(() => {});
    redis?.disconnect();
    await worker?.stop();
    await token?.revoke();
    await tp?.close();
    await proxy?.close();
    await schema?.drop();
    await deleteKeys(prefix);
  });

  it("a retried run waits in BullMQ as long as the store says: the backoff is capped", { timeout: 120_000 }, async () => {
    const ws = wsName("retry-wait");
    // Longer than the cap: the store waits the cap, BullMQ's own exponential backoff would not.
    const backoff = MAX_RETRY_BACKOFF_MS + 100_000;
    const remote = await basic.picky.deploy(ws, { client: tp.client, name: "picky", resource: { maxRetries: 1, retryBackoffMs: backoff } });
    const r = await tp.api("POST", `/workspaces/${ws}/deployments/picky/runs`, { args: toWire([3]) });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const id: string = r.json.run.id;
    const store = tp.platform.ctx.store;
    const run = await eventually(async () => {
      const row = await store.getRun(id);
      return row?.status === "queued" && row.attempt === 2 ? row : undefined;
    }, 60_000, "the first attempt to fail and the run to wait for its retry");
    const q = queueOf(remote.deployment.id);
    await eventually(async () => (await q.getJobState(id)) === "delayed", 20_000, "the job to wait for the retry");
    const score = Number(await redis.zscore(`${prefix}:${deploymentQueueName(remote.deployment.id)}:delayed`, id));
    const dueInQueue = Math.floor(score / 0x1000);
    const dueInStore = Number(run.scheduledFor);
    assert.ok(Math.abs(dueInQueue - dueInStore) < 5_000, `BullMQ delivers the retry at ${new Date(dueInQueue).toISOString()}, the store (and the API) says ${new Date(dueInStore).toISOString()}`);
    await tp.api("POST", `/runs/${id}/cancel`);
  });

  /**
   * A job firing every second with a deployment limit, once it ran; `lose` empties Redis of this
   * platform's keys, and the schedule, the limit and the fires must all come back.
   */
  const losesRedisData = async (name: string, lose: () => Promise<void>) => {
    const ws = wsName(name);
    const remote = await basic.crash.deploy(ws, { client: tp.client, name, schedule: { cron: "* * * * * *" }, resource: { concurrency: 2 } });
    const store = tp.platform.ctx.store;
    const schedule = (await store.getSchedule(remote.deployment.id))!;
    const q = queueOf(remote.deployment.id);
    const succeededSince = async (t: number) => (await store.listRuns({ deploymentId: remote.deployment.id, status: "succeeded" })).some((row) => Number(row.createdAt) > t);
    await eventually(() => succeededSince(0), 60_000, "a first fire to run");
    assert.ok(await q.getJobScheduler(schedule.id), "the schedule is a job scheduler");
    assert.equal(await q.getGlobalConcurrency(), 2);

    await lose();
    const lost = Date.now();
    await eventually(async () => (await q.getJobScheduler(schedule.id)) != null, 45_000, "the schedule's job scheduler to be back");
    await eventually(async () => (await q.getGlobalConcurrency()) === 2, 30_000, "the deployment's limit to be back");
    await eventually(() => succeededSince(lost), 60_000, "a fire after the loss to run");
    const paused = await tp.api("POST", `/workspaces/${ws}/deployments/${name}/schedule`, { enabled: false });
    assert.equal(paused.status, 200, JSON.stringify(paused.json));
  };

  it("Redis back without its data: schedules fire again and deployment limits are set again", { timeout: 120_000 }, () =>
    // Redis restarts without persistence: every connection drops and it comes back empty.
    losesRedisData("redis-lost", async () => {
      proxy.cut();
      await deleteKeys(prefix);
      proxy.restore();
    }));

  it("Redis losing its data while connected (no reconnect to tell): schedules and limits are set again", { timeout: 120_000 }, () =>
    // FLUSHALL, as far as this platform's keys go (other test files share this Redis): the
    // connections stay up, so only the watch can notice.
    losesRedisData("redis-flushed", () => deleteKeys(prefix).then(() => {})));

  it("a run taken back whose job its cut-off holder completes meanwhile gets a job again", { timeout: 60_000 }, async () => {
    const own = freshPrefix();
    const rq = new BullRunQueue({ url: TEST_REDIS_URL, prefix: own });
    const dep = "dep_release_race";
    const run = { id: "run_release_race", deploymentId: dep, maxRetries: 0, retryBackoffMs: 0, scheduledFor: null };
    const holder = new Worker(deploymentQueueName(dep), null, { connection: { url: TEST_REDIS_URL }, prefix: own, autorun: false, name: "wrk_dead" });
    const jobs = new Queue(deploymentQueueName(dep), { connection: { url: TEST_REDIS_URL }, prefix: own });
    const getState = Job.prototype.getState;
    try {
      await rq.add([run]);
      const held = await holder.getNextJob("tok-dead", { block: false });
      assert.equal(held?.id, run.id);
      // The holder (declared dead, only cut off) completes the job just after the release looked at it.
      Job.prototype.getState = async function (this: Job) {
        const state = await getState.call(this);
        if (this.id === run.id) {
          Job.prototype.getState = getState;
          await held!.moveToCompleted(null, "tok-dead", false);
        }
        return state;
      };
      await rq.release([run]);
      assert.equal(await jobs.getJobState(run.id), "waiting", "the run queued in the store has a job to deliver it");
    } finally {
      Job.prototype.getState = getState;
      await holder.close(true);
      await jobs.close();
      await rq.close();
      await deleteKeys(own);
    }
  });
});
