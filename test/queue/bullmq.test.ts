// The BullMQ run queue against the real Redis: the control plane's producer (BullRunQueue) and the
// worker's consumer (BullRunConsumer). One fresh key prefix for the file, every key removed after.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { BullRunQueue, RedisUnavailableError, type QueueableRun } from "../../src/platform/queue/bullmq-queue.ts";
import { deploymentQueueName } from "../../src/queue/bullmq-names.ts";
import { BullRunConsumer, type Delivery, type Outcome } from "../../src/worker/bullmq-consumer.ts";
import { TEST_REDIS_URL, countKeys, deferred, deleteKeys, freshPrefix, redisSkip, redisUnavailable, until } from "./_redis.ts";

const skip = await redisSkip();
const prefix = freshPrefix();
const LEASE_MS = 1000;

type Seen = Omit<Delivery, "signal"> & { at: number; runId?: string; scheduleId?: string; firedAt?: number };

const closers: Array<() => Promise<unknown>> = [];
function producer(): BullRunQueue {
  const q = new BullRunQueue({ url: TEST_REDIS_URL, prefix });
  closers.push(() => q.close());
  return q;
}
function consumer(
  deployments: string[],
  process: (d: Delivery) => Promise<Outcome>,
  opts: { slots?: number; leaseMs?: number; workerName?: string; url?: string; errors?: string[] } = {},
): BullRunConsumer {
  const errors = opts.errors ?? [];
  const c = new BullRunConsumer({
    url: opts.url ?? TEST_REDIS_URL,
    prefix,
    slots: opts.slots ?? 4,
    leaseMs: opts.leaseMs ?? LEASE_MS,
    process,
    ...(opts.workerName ? { workerName: opts.workerName } : {}),
    onError: (e, ctx) => errors.push(`${ctx}: ${e.message}`),
  });
  c.setDeployments(deployments);
  closers.push(async () => {
    await c.close({ force: true });
    // Tests that expect problems pass their own list and check it.
    if (!opts.errors) assert.deepEqual(errors, [], "the consumer reported no problem");
  });
  return c;
}
const record = (seen: Seen[], d: Delivery) => {
  const { signal: _signal, ...rest } = d;
  seen.push({ ...rest, at: Date.now() });
};
const run = (id: string, deploymentId: string, extra: Partial<QueueableRun> = {}): QueueableRun => ({ id, deploymentId, maxRetries: 0, retryBackoffMs: 0, scheduledFor: null, ...extra });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The events BullMQ wrote to a deployment queue's event stream, oldest first. */
async function queueEvents(deploymentId: string): Promise<Array<Record<string, string>>> {
  const r = new Redis(TEST_REDIS_URL);
  try {
    const entries = await r.xrange(`${prefix}:${deploymentQueueName(deploymentId)}:events`, "-", "+");
    return entries.map(([, fields]) => {
      const o: Record<string, string> = {};
      for (let i = 0; i < fields.length; i += 2) o[fields[i]!] = fields[i + 1]!;
      return o;
    });
  } finally {
    r.disconnect();
  }
}
const eventFor = (deploymentId: string, jobId: string, event: string, more: Record<string, string> = {}) =>
  until(async () => (await queueEvents(deploymentId)).find((e) => e.jobId === jobId && e.event === event && Object.entries(more).every(([k, v]) => e[k] === v)), `event ${event} of ${jobId}`);

describe("BullMQ run queue (producer + consumer on the real Redis)", { skip }, () => {
  // In CI Redis is part of the contract: its absence fails every test at once.
  before(async () => {
    const why = await redisUnavailable();
    if (why) assert.fail(why);
  });
  after(async () => {
    const problems: unknown[] = [];
    for (const close of closers.reverse()) await close().catch((err: unknown) => problems.push(err));
    if (await redisUnavailable()) return;
    await deleteKeys(prefix);
    assert.equal(await countKeys(prefix), 0, "no key of this test file is left in Redis");
    if (problems.length) throw problems[0];
  });

  it("add → process → complete; adding a queued run again changes nothing", { timeout: 60_000 }, async () => {
    const q = producer();
    await q.add([run("run_a1", "dep_a"), run("run_a1", "dep_a"), run("run_a2", "dep_a")]);
    const counts = await q.counts("dep_a");
    assert.equal(counts.waiting, 2, "the duplicate add queued nothing");
    const seen: Seen[] = [];
    consumer(["dep_a"], async (d) => (record(seen, d), { kind: "done" }), { slots: 1 });
    await eventFor("dep_a", "run_a2", "completed");
    assert.deepEqual(
      seen.map(({ at: _at, ...d }) => d),
      [
        { kind: "run", runId: "run_a1", deploymentId: "dep_a", jobId: "run_a1", attempt: 1, maxAttempts: 1, stalled: 0 },
        { kind: "run", runId: "run_a2", deploymentId: "dep_a", jobId: "run_a2", attempt: 1, maxAttempts: 1, stalled: 0 },
      ],
    );
    assert.ok(await eventFor("dep_a", "run_a1", "completed"));
    assert.deepEqual(await q.counts("dep_a"), { waiting: 0, prioritized: 0, delayed: 0, active: 0, completed: 0, failed: 0 }, "finished jobs are removed (the store keeps outcomes)");
  });

  it("retry: attempts 1, 2, 3 with exponential backoff, then the job fails", { timeout: 60_000 }, async () => {
    const q = producer();
    const seen: Seen[] = [];
    consumer(["dep_r"], async (d) => (record(seen, d), { kind: "retry", error: new Error(`attempt ${d.attempt} broke`) }));
    await q.add([run("run_r", "dep_r", { maxRetries: 2, retryBackoffMs: 150 })]);
    const failed = await eventFor("dep_r", "run_r", "failed");
    assert.equal(failed.failedReason, "attempt 3 broke");
    assert.deepEqual(
      seen.map((d) => [d.attempt, d.maxAttempts, d.stalled]),
      [
        [1, 3, 0],
        [2, 3, 0],
        [3, 3, 0],
      ],
    );
    // Exponential: the 2nd attempt waits ≥ 150 ms after the 1st failed, the 3rd ≥ 300 ms after the 2nd.
    assert.ok(seen[1]!.at - seen[0]!.at >= 150, `2nd attempt ${seen[1]!.at - seen[0]!.at} ms after the 1st`);
    assert.ok(seen[2]!.at - seen[1]!.at >= 300, `3rd attempt ${seen[2]!.at - seen[1]!.at} ms after the 2nd`);
    const events = (await queueEvents("dep_r")).filter((e) => e.jobId === "run_r").map((e) => e.event);
    assert.equal(events.filter((e) => e === "delayed").length, 2, "two retries were delayed by the backoff");
    assert.ok(events.includes("retries-exhausted"));
    assert.equal(seen.length, 3, "no delivery after the last attempt");
  });

  it("later: the job is delivered again after the delay, without spending an attempt, and stays until settled", { timeout: 60_000 }, async () => {
    const q = producer();
    const seen: Seen[] = [];
    consumer(["dep_later"], async (d) => (record(seen, d), seen.length < 3 ? { kind: "later", delayMs: 200 } : { kind: "done" }));
    await q.add([run("run_later", "dep_later", { maxRetries: 0 })]);
    await eventFor("dep_later", "run_later", "completed");
    assert.deepEqual(
      seen.map((d) => [d.attempt, d.maxAttempts, d.stalled]),
      [
        [1, 1, 0],
        [1, 1, 0],
        [1, 1, 0],
      ],
      "three deliveries of a job allowed one attempt: none was spent",
    );
    assert.ok(seen[1]!.at - seen[0]!.at >= 200, `delivered again ${seen[1]!.at - seen[0]!.at} ms later`);
  });

  it("fail: unrecoverable stops retries (failed); not unrecoverable ends the job quietly (completed)", { timeout: 60_000 }, async () => {
    const q = producer();
    const seen: Seen[] = [];
    consumer(["dep_u"], async (d) => {
      record(seen, d);
      const runId = d.kind === "run" ? d.runId : "";
      return { kind: "fail", error: new Error(`module of ${runId} does not import`), unrecoverable: runId === "run_u1" };
    });
    await q.add([run("run_u1", "dep_u", { maxRetries: 5, retryBackoffMs: 10 }), run("run_u2", "dep_u", { maxRetries: 5, retryBackoffMs: 10 })]);
    const failed = await eventFor("dep_u", "run_u1", "failed");
    assert.equal(failed.failedReason, "module of run_u1 does not import");
    await eventFor("dep_u", "run_u2", "completed");
    assert.deepEqual(seen.map((d) => [d.kind === "run" && d.runId, d.attempt, d.maxAttempts]).sort(), [
      ["run_u1", 1, 6],
      ["run_u2", 1, 6],
    ]);
    const counts = await q.counts("dep_u");
    assert.equal(counts.delayed + counts.waiting + counts.active, 0, "nothing is left to retry");
  });

  it("a delayed run is not delivered before its time; a later immediate run passes it", { timeout: 60_000 }, async () => {
    const q = producer();
    const seen: Seen[] = [];
    const scheduledFor = Date.now() + 1500;
    await q.add([run("run_d_late", "dep_d", { scheduledFor })]);
    await q.add([run("run_d_now", "dep_d", { scheduledFor: Date.now() - 5000 })]);
    consumer(["dep_d"], async (d) => (record(seen, d), { kind: "done" }), { slots: 1 });
    await eventFor("dep_d", "run_d_late", "completed");
    assert.deepEqual(
      seen.map((d) => d.kind === "run" && d.runId),
      ["run_d_now", "run_d_late"],
    );
    assert.ok(seen[1]!.at >= scheduledFor, `delivered ${scheduledFor - seen[1]!.at} ms before its time`);
  });

  it("cron: a job scheduler produces schedule deliveries at the pattern's fire times", { timeout: 60_000 }, async () => {
    const q = producer();
    const seen: Seen[] = [];
    const { nextFireAt } = await q.upsertSchedule({ id: "sch_c", deploymentId: "dep_c", cron: "* * * * * *", timezone: "Europe/Paris", startsAt: null, endsAt: null });
    assert.ok(nextFireAt !== null && nextFireAt % 1000 === 0);
    consumer(["dep_c"], async (d) => (record(seen, d), { kind: "done" }));
    await until(() => seen.length >= 2 && seen, "two schedule deliveries");
    const [first, second] = seen;
    for (const d of [first!, second!]) {
      assert.equal(d.kind, "schedule");
      assert.equal(d.scheduleId, "sch_c");
      assert.equal(d.deploymentId, "dep_c");
      assert.equal(d.jobId, `repeat:sch_c:${d.firedAt}`);
      assert.equal(d.firedAt! % 1000, 0);
      assert.ok(d.at >= d.firedAt!, "not delivered before its fire time");
      assert.deepEqual([d.attempt, d.maxAttempts, d.stalled], [1, 5, 0]);
    }
    assert.equal(first!.firedAt, nextFireAt);
    assert.ok(second!.firedAt! > first!.firedAt!);

    assert.equal(await q.removeSchedule("sch_c", "dep_c"), true);
    assert.equal(await q.removeSchedule("sch_c", "dep_c"), false);
    const counts = await q.counts("dep_c");
    assert.equal(counts.delayed + counts.waiting, 0, "no pending fire after removal");

    // Bounds: a start in the future delays the first fire; an end in the past schedules nothing.
    const startsAt = Date.UTC(2099, 0, 1);
    assert.deepEqual(await q.upsertSchedule({ id: "sch_c2", deploymentId: "dep_c2", cron: "0 12 * * *", timezone: "UTC", startsAt, endsAt: null }), { nextFireAt: startsAt + 12 * 3600_000 });
    assert.deepEqual(await q.upsertSchedule({ id: "sch_c2", deploymentId: "dep_c2", cron: "0 12 * * *", timezone: "UTC", startsAt: null, endsAt: Date.now() - 1000 }), { nextFireAt: null });
    assert.equal((await q.counts("dep_c2")).delayed, 0, "the ended schedule was removed");
  });

  it("stalled: a worker killed with SIGKILL loses the job, another worker gets it with a stalled count", { timeout: 90_000 }, async () => {
    const q = producer();
    await q.add([run("run_s", "dep_s", { maxRetries: 2 })]);
    const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./_consumer-child.ts", import.meta.url))], {
      env: { ...process.env, NBX_TEST_REDIS_URL: TEST_REDIS_URL, NBX_TEST_PREFIX: prefix, NBX_TEST_DEPLOYMENT: "dep_s", NBX_TEST_LEASE_MS: String(LEASE_MS) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_code, signal) => resolve(signal)));
    closers.push(async () => void (child.exitCode === null && child.signalCode === null && child.kill("SIGKILL")));
    const took = deferred<{ took: string; attempt: number; stalled: number }>();
    let buffered = "";
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      for (const line of buffered.split("\n").slice(0, -1)) {
        const msg = JSON.parse(line);
        if (msg.took) took.resolve(msg);
      }
      buffered = buffered.slice(buffered.lastIndexOf("\n") + 1);
    });
    assert.deepEqual(await took.promise, { took: "run_s", attempt: 1, stalled: 0 });
    assert.equal((await q.counts("dep_s")).active, 1);
    child.kill("SIGKILL");
    assert.equal(await exited, "SIGKILL");

    const seen: Seen[] = [];
    consumer(["dep_s"], async (d) => (record(seen, d), { kind: "done" }));
    await eventFor("dep_s", "run_s", "completed");
    assert.equal(seen.length, 1);
    const again = seen[0]!;
    assert.equal(again.kind === "run" && again.runId, "run_s");
    assert.equal(again.attempt, 1, "a crash spends no BullMQ attempt: the store decides");
    assert.ok(again.stalled >= 1, `stalled count ${again.stalled}`);
    assert.ok((await queueEvents("dep_s")).some((e) => e.event === "stalled" && e.jobId === "run_s"));
  });

  it("locks of long deliveries are renewed: a second worker never gets the job meanwhile", { timeout: 60_000 }, async () => {
    const q = producer();
    const seen: Seen[] = [];
    // Renewed every third of a lease: a lease of 300 ms lapsed in CI when the test process's event
    // loop stalled for longer than that beside two other suites (a stall, not a missing renewal).
    const leaseMs = 1_000;
    const slow = async (d: Delivery): Promise<Outcome> => {
      record(seen, d);
      await sleep(leaseMs * 4);
      return { kind: "done" };
    };
    consumer(["dep_l"], slow, { leaseMs });
    consumer(["dep_l"], slow, { leaseMs });
    await q.add([run("run_l", "dep_l")]);
    await eventFor("dep_l", "run_l", "completed");
    assert.deepEqual(
      seen.map((d) => [d.jobId, d.stalled]),
      [["run_l", 0]],
    );
    assert.ok(!(await queueEvents("dep_l")).some((e) => e.event === "stalled"));
  });

  it("per-deployment concurrency: at most n in flight over all workers", { timeout: 60_000 }, async () => {
    const q = producer();
    await q.setConcurrency("dep_g", 2);
    let inFlight = 0;
    let max = 0;
    const done: string[] = [];
    const work = async (d: Delivery): Promise<Outcome> => {
      max = Math.max(max, ++inFlight);
      await sleep(40);
      inFlight--;
      done.push(d.jobId);
      return { kind: "done" };
    };
    consumer(["dep_g"], work, { slots: 4 });
    consumer(["dep_g"], work, { slots: 4 });
    await q.add(Array.from({ length: 12 }, (_, i) => run(`run_g${i}`, "dep_g")));
    await until(() => done.length === 12, "12 runs done");
    assert.ok(max <= 2, `max in flight ${max}`);
    assert.equal(new Set(done).size, 12);
  });

  it("slots are shared by all of a worker's queues: at most `slots` in flight in total", { timeout: 60_000 }, async () => {
    const q = producer();
    let inFlight = 0;
    let max = 0;
    const done: string[] = [];
    let c: BullRunConsumer | undefined;
    let maxBusy = 0;
    c = consumer(
      ["dep_x", "dep_y"],
      async (d) => {
        max = Math.max(max, ++inFlight);
        maxBusy = Math.max(maxBusy, c?.busySlots ?? 0);
        await sleep(30);
        inFlight--;
        done.push(`${d.deploymentId}/${d.jobId}`);
        return { kind: "done" };
      },
      { slots: 3 },
    );
    await q.add([...Array.from({ length: 10 }, (_, i) => run(`run_x${i}`, "dep_x")), ...Array.from({ length: 10 }, (_, i) => run(`run_y${i}`, "dep_y"))]);
    await until(() => done.length === 20, "20 runs done");
    assert.ok(max <= 3, `max in flight ${max}`);
    assert.ok(maxBusy <= 3, `max busy slots ${maxBusy}`);
    assert.equal(done.filter((x) => x.startsWith("dep_x/")).length, 10);
    assert.equal(done.filter((x) => x.startsWith("dep_y/")).length, 10);
  });

  it("a finished job's call brings the next one: one fetch for a run of jobs, not one per job", { timeout: 60_000 }, async () => {
    const q = producer();
    const queue = deploymentQueueName("dep_chain");
    // Jobs the consumer fetched on their own (a moveToActive call each), as opposed to those a finish brought along.
    let fetched = 0;
    const original = Worker.prototype.getNextJob;
    Worker.prototype.getNextJob = async function (this: Worker, ...args: Parameters<Worker["getNextJob"]>) {
      const job = await original.apply(this, args);
      if (job && this.name === queue) fetched++;
      return job;
    };
    try {
      const done: string[] = [];
      const gate = deferred<void>();
      consumer(
        ["dep_chain"],
        async (d) => {
          await gate.promise;
          done.push(d.jobId);
          return { kind: "done" };
        },
        { slots: 1 },
      );
      await q.add(Array.from({ length: 30 }, (_, i) => run(`run_chain${i}`, "dep_chain")));
      await sleep(100); // the first job is fetched and waits at the gate with the rest queued behind it
      gate.resolve();
      await until(() => done.length === 30, "30 runs done");
      assert.deepEqual(done, Array.from({ length: 30 }, (_, i) => `run_chain${i}`), "in queue order");
      assert.ok(fetched <= 2, `${fetched} of 30 jobs needed a fetch of their own`);
    } finally {
      Worker.prototype.getNextJob = original;
    }
  });

  it("a job that arrives while every slot is busy is handed back at once, for a worker with a free slot", { timeout: 60_000 }, async () => {
    const q = producer();
    const release = deferred();
    const busy = deferred();
    const seen1: Seen[] = [];
    consumer(
      ["dep_h1", "dep_h2"],
      async (d) => {
        record(seen1, d);
        busy.resolve();
        await release.promise;
        return { kind: "done" };
      },
      { slots: 1, workerName: "c1" },
    );
    // Both of c1's queues are idle, blocked in Redis without a slot.
    await until(async () => (await blockedOn("dep_h1", "c1")) && (await blockedOn("dep_h2", "c1")), "c1 blocked on both queues");
    await q.add([run("run_h1", "dep_h1")]);
    await busy.promise;
    await q.add([run("run_h2", "dep_h2")]);
    // c1 took run_h2 and put it back (to waiting from active).
    await eventFor("dep_h2", "run_h2", "waiting", { prev: "active" });
    assert.equal((await q.counts("dep_h2")).waiting, 1);
    const seen2: Seen[] = [];
    consumer(["dep_h2"], async (d) => (record(seen2, d), { kind: "done" }), { workerName: "c2" });
    await eventFor("dep_h2", "run_h2", "completed");
    assert.deepEqual(
      seen2.map((d) => [d.jobId, d.attempt, d.stalled]),
      [["run_h2", 1, 0]],
      "handing back spends no attempt and is no stall",
    );
    assert.deepEqual(
      seen1.map((d) => d.jobId),
      ["run_h1"],
    );
    release.resolve();
    await eventFor("dep_h1", "run_h1", "completed");
  });

  it("a delivery whose lock is lost sees its signal aborted; the job comes back as stalled", { timeout: 60_000 }, async () => {
    const q = producer();
    const errors: string[] = [];
    const seen: Seen[] = [];
    const aborted = deferred<string>();
    const holding = deferred();
    consumer(
      ["dep_lost"],
      async (d) => {
        record(seen, d);
        if (seen.length > 1) return { kind: "done" };
        holding.resolve();
        await new Promise((resolve) => d.signal.addEventListener("abort", resolve, { once: true }));
        aborted.resolve(String((d.signal.reason as Error).message));
        return { kind: "done" };
      },
      { errors },
    );
    await q.add([run("run_lost", "dep_lost")]);
    await holding.promise;
    const r = new Redis(TEST_REDIS_URL);
    assert.equal(await r.del(`${prefix}:${deploymentQueueName("dep_lost")}:run_lost:lock`), 1);
    r.disconnect();
    assert.match(await aborted.promise, /run_lost/);
    await eventFor("dep_lost", "run_lost", "completed");
    assert.deepEqual(
      seen.map((d) => d.attempt),
      [1, 1],
    );
    assert.equal(seen[0]!.stalled, 0);
    assert.ok(seen[1]!.stalled >= 1, `stalled ${seen[1]!.stalled}`);
    assert.ok(errors.length > 0 && errors.every((e) => /run_lost/.test(e)), errors.join("\n"));
  });

  it("a worker waits while Redis is away and goes on when it is back", { timeout: 90_000 }, async () => {
    const q = producer();
    const proxy = await redisProxy();
    closers.push(() => proxy.down());
    await proxy.down();
    const errors: string[] = [];
    const seen: Seen[] = [];
    consumer(["dep_o"], async (d) => (record(seen, d), { kind: "done" }), { url: `redis://127.0.0.1:${proxy.port}`, errors });
    await q.add([run("run_o1", "dep_o")]);
    await until(() => errors.length > 0, "the outage reported");
    assert.equal(seen.length, 0);
    await proxy.up();
    await eventFor("dep_o", "run_o1", "completed");
    await proxy.down();
    await q.add([run("run_o2", "dep_o")]);
    await proxy.up();
    await eventFor("dep_o", "run_o2", "completed");
    assert.deepEqual(
      seen.map((d) => [d.jobId, d.attempt, d.stalled]),
      [
        ["run_o1", 1, 0],
        ["run_o2", 1, 0],
      ],
    );
    assert.ok(errors.every((e) => /Redis at redis:\/\/127\.0\.0\.1:\d+\/? is unreachable/.test(e)), errors.join("\n"));
  });

  it("remove: a queued run is taken out (cancel), an active one is left to its worker", { timeout: 60_000 }, async () => {
    const q = producer();
    await q.add([run("run_k1", "dep_k"), run("run_k2", "dep_k", { scheduledFor: Date.now() + 60_000 }), run("run_k3", "dep_k")]);
    assert.equal(await q.remove("run_k2", "dep_k"), "removed", "a delayed run");
    assert.equal(await q.remove("run_k3", "dep_k"), "removed", "a waiting run");
    assert.equal(await q.remove("run_k_none", "dep_k"), "absent");
    const holding = deferred();
    const release = deferred();
    const seen: Seen[] = [];
    consumer(["dep_k"], async (d) => {
      record(seen, d);
      holding.resolve();
      await release.promise;
      return { kind: "done" };
    });
    await holding.promise;
    assert.equal(await q.remove("run_k1", "dep_k"), "active");
    release.resolve();
    await eventFor("dep_k", "run_k1", "completed");
    await q.add([run("run_k4", "dep_k")]);
    await eventFor("dep_k", "run_k4", "completed");
    assert.deepEqual(
      seen.map((d) => d.jobId),
      ["run_k1", "run_k4"],
      "removed runs were never delivered",
    );
  });

  /** Two manual workers of a deployment's queue taking jobs under a long lock (one to play dead), and a Queue to look. */
  function holders(dep: string, deadName: string, aliveName: string) {
    const conn = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const worker = (name: string) => new Worker(deploymentQueueName(dep), null, { connection: conn, prefix, lockDuration: 600_000, autorun: false, name });
    const dead = worker(deadName);
    const alive = worker(aliveName);
    const look = new Queue(deploymentQueueName(dep), { connection: conn, prefix });
    closers.push(async () => {
      await dead.close(true);
      await alive.close(true);
      await look.close();
      conn.disconnect();
    });
    return { dead, alive, look };
  }

  it("release: runs taken back from a dead worker are delivered again now, not when its lock lapses", { timeout: 60_000 }, async () => {
    const q = producer();
    const later = Date.now() + 60_000;
    await q.add([run("run_rel1", "dep_release"), run("run_rel2", "dep_release"), run("run_rel3", "dep_release", { scheduledFor: later }), run("run_rel5", "dep_release")]);
    // A holder that took two jobs under a long lock and then went silent (never renews, never completes).
    const { dead, alive, look } = holders("dep_release", "wrk_dead", "wrk_alive");
    const taken = [await dead.getNextJob("dead-token-1"), await dead.getNextJob("dead-token-2")];
    assert.deepEqual(taken.map((j) => j?.id).sort(), ["run_rel1", "run_rel2"]);
    // A live worker already holds another delivery of a run the dead one had (BullMQ redelivered it).
    const redelivered = await alive.getNextJob("alive-token");
    assert.equal(redelivered?.id, "run_rel5");
    const state = async (id: string) => (await (await look.getJob(id))?.getState()) ?? "absent";
    await q.release([
      run("run_rel1", "dep_release"), // due now: back to wait
      run("run_rel2", "dep_release", { scheduledFor: later }), // a retry's backoff: delayed until then
      run("run_rel3", "dep_release"), // delayed to look again later, but its holder is gone: due now
      run("run_rel4", "dep_release"), // its job went away: added
      run("run_rel5", "dep_release"), // with a live worker: left to it
    ], new Set(["wrk_alive"]));
    assert.deepEqual(
      [await state("run_rel1"), await state("run_rel2"), await state("run_rel3"), await state("run_rel4")],
      ["waiting", "delayed", "waiting", "waiting"],
    );
    // A live worker gets them at once; the silent holder can no longer complete its old delivery.
    const seen: Seen[] = [];
    consumer(["dep_release"], async (d) => (record(seen, d), { kind: "done" }));
    for (const id of ["run_rel1", "run_rel3", "run_rel4"]) await eventFor("dep_release", id, "completed");
    await assert.rejects(taken[1]!.moveToCompleted("late", "dead-token-2", false));
    assert.deepEqual(seen.map((d) => d.jobId).sort(), ["run_rel1", "run_rel3", "run_rel4"]);
    assert.equal(await state("run_rel2"), "delayed", "the backoff is kept");
    assert.equal(await state("run_rel5"), "active", "the live worker's delivery was not taken from it");
    await redelivered!.moveToCompleted("ok", "alive-token", false);
  });

  it("releaseHeldBy: deliveries a dead worker took ahead without claiming go back to wait now; others' stay", { timeout: 60_000 }, async () => {
    const q = producer();
    await q.add([run("run_held1", "dep_held"), run("run_held2", "dep_held"), run("run_held3", "dep_held")]);
    const { dead, alive, look } = holders("dep_held", "wrk_held_dead", "wrk_held_alive");
    const taken = [await dead.getNextJob("dead-1"), await dead.getNextJob("dead-2")];
    const kept = await alive.getNextJob("alive-1");
    assert.deepEqual([...taken.map((j) => j?.id), kept?.id].sort(), ["run_held1", "run_held2", "run_held3"]);
    const state = async (id: string) => (await (await look.getJob(id))?.getState()) ?? "absent";
    assert.equal(await q.releaseHeldBy(new Set(["wrk_held_dead"]), ["dep_held", "dep_none"]), 2);
    assert.deepEqual([await state(taken[0]!.id!), await state(taken[1]!.id!)], ["waiting", "waiting"]);
    assert.equal(await state(kept!.id!), "active", "the live worker's delivery is left to it");
    await assert.rejects(taken[0]!.moveToCompleted("late", "dead-1", false)); // the dead holder can no longer complete it
    await kept!.moveToCompleted("ok", "alive-1", false);
  });

  it("close waits for running deliveries and reports their outcome; setDeployments drops a queue the same way", { timeout: 60_000 }, async () => {
    const q = producer();
    const started = deferred();
    const c = new BullRunConsumer({
      url: TEST_REDIS_URL,
      prefix,
      slots: 2,
      leaseMs: LEASE_MS,
      process: async () => {
        started.resolve();
        await sleep(300);
        return { kind: "done" };
      },
    });
    c.setDeployments(["dep_w"]);
    await q.add([run("run_w", "dep_w")]);
    await started.promise;
    c.setDeployments([]);
    assert.deepEqual(c.deployments, []);
    await q.add([run("run_w2", "dep_w")]);
    await c.close();
    assert.ok(await eventFor("dep_w", "run_w", "completed"));
    const counts = await q.counts("dep_w");
    assert.equal(counts.waiting, 1, "the dropped queue took nothing new");
    assert.equal(counts.active, 0);
  });

  it("close with a timeout stops waiting for a delivery that does not end, and aborts its signal", { timeout: 60_000 }, async () => {
    const q = producer();
    const started = deferred<AbortSignal>();
    const c = new BullRunConsumer({ url: TEST_REDIS_URL, prefix, slots: 1, leaseMs: LEASE_MS, process: (d) => (started.resolve(d.signal), new Promise(() => {})) });
    c.setDeployments(["dep_t"]);
    await q.add([run("run_t", "dep_t")]);
    const signal = await started.promise;
    await c.close({ timeoutMs: 100 });
    assert.equal(signal.aborted, true);
    assert.match(String((signal.reason as Error).message), /shutting down/);
    assert.equal((await q.counts("dep_t")).active, 1, "left to the stalled check of the next worker");
  });

  it("Redis unreachable: calls fail fast with an error naming Redis and the URL, and work again when it is back", { timeout: 60_000 }, async () => {
    // A closed port.
    const closedPort = await freePort();
    const dead = new BullRunQueue({ url: `redis://:s3cret@127.0.0.1:${closedPort}`, prefix });
    closers.push(() => dead.close());
    for (const call of [() => dead.add([run("run_z", "dep_z")]), () => dead.ping(), () => dead.counts("dep_z")]) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof RedisUnavailableError, String(err));
        assert.equal(err.code, "UNAVAILABLE");
        assert.match(err.message, new RegExp(`^Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${closedPort}\\b.* is unreachable`));
        assert.doesNotMatch(err.message, /s3cret/);
        return true;
      });
    }

    // Redis going away and coming back, through a proxy the test can cut.
    const proxy = await redisProxy();
    closers.push(() => proxy.down());
    const q = new BullRunQueue({ url: `redis://127.0.0.1:${proxy.port}`, prefix });
    closers.push(() => q.close());
    assert.ok((await q.ping()) >= 0);
    await proxy.down();
    const err = await until(
      () =>
        q.ping().then(
          () => undefined,
          (e: unknown) => e,
        ),
      "a failing ping",
    );
    assert.ok(err instanceof RedisUnavailableError, String(err));
    await assert.rejects(q.add([run("run_p", "dep_p")]), RedisUnavailableError);
    await proxy.up();
    await until(
      () =>
        q.ping().then(
          () => true,
          () => false,
        ),
      "ping after Redis is back",
    );
    await q.add([run("run_p", "dep_p")]);
    assert.equal((await q.counts("dep_p")).waiting, 1);
  });
});

/** True when the worker named `workerName` has a connection blocked waiting on the deployment's queue. */
async function blockedOn(deploymentId: string, workerName: string): Promise<boolean> {
  const r = new Redis(TEST_REDIS_URL);
  try {
    const name = `${prefix}:${Buffer.from(deploymentQueueName(deploymentId)).toString("base64")}:w:${workerName}`;
    const list = (await r.client("LIST")) as string;
    return list.split("\n").some((line) => line.includes(` name=${name} `) && line.includes(" cmd=bzpopmin"));
  } finally {
    r.disconnect();
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A TCP proxy to the test Redis that can be taken down (all connections cut) and brought back on the same port. */
async function redisProxy(): Promise<{ port: number; down: () => Promise<void>; up: () => Promise<void> }> {
  const target = new URL(TEST_REDIS_URL);
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let port = 0;
  const up = async () => {
    server = createServer((client) => {
      const upstream = tcpConnect(Number(target.port || 6379), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
        s.on("error", () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => server!.listen(port, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  };
  const down = async () => {
    const s = server;
    server = null;
    if (!s) return;
    const closed = new Promise((r) => s.close(r));
    for (const sock of sockets) sock.destroy();
    await closed;
  };
  await up();
  return { port, up, down };
}
