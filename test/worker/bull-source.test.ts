// A delivery whose claim the control plane refuses (this worker was declared dead) is delivered
// again a moment later without spending an attempt: with no retries left a failed attempt would end
// the job and leave the run queued in the store with no job to deliver it.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Queue } from "bullmq";
import { BullRunQueue } from "../../src/platform/queue/bullmq-queue.ts";
import { SCHEDULE_JOB, SCHEDULE_JOB_OPTIONS, deploymentQueueName, type ScheduleJobData } from "../../src/queue/bullmq-names.ts";
import { BullRunSource } from "../../src/worker/bull-source.ts";
import type { ControlPlane } from "../../src/worker/control-plane.ts";
import type { RunExecutor, RunRow, Verdict } from "../../src/worker/run-executor.ts";
import { TEST_REDIS_URL, deleteKeys, freshPrefix, redisSkip, until } from "../queue/_redis.ts";

const skip = await redisSkip();

describe("BullMQ deliveries at the worker", { skip }, () => {
  const prefix = freshPrefix();
  const closers: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of closers.reverse()) await c();
    await deleteKeys(prefix);
  });

  it("a refused claim delivers the job again a moment later, no attempt spent; the next delivery claims it", { timeout: 60_000 }, async () => {
    const queue = new BullRunQueue({ url: TEST_REDIS_URL, prefix });
    closers.push(() => queue.close());
    const claims: string[] = [];
    const source = new BullRunSource({
      cp: {} as ControlPlane,
      me: { id: "wrk_test" },
      executor: { stopping: false } as RunExecutor,
      redisUrl: TEST_REDIS_URL,
      prefix,
      slots: 1,
      leaseMs: 2_000,
      reports: {
        async claim(runIds) {
          claims.push(...runIds);
          if (claims.length === 1) throw new Error("worker wrk_test was declared dead");
          // Finished meanwhile elsewhere: nothing to run, the job ends.
          return { claimed: [], held: [] };
        },
      },
    });
    closers.push(() => source.close());
    source.setDeployments(["dep_claim"]);
    await queue.add([{ id: "run_c1", deploymentId: "dep_claim", maxRetries: 0, retryBackoffMs: 0, scheduledFor: null }]);
    await until(() => claims.length >= 2, "a second delivery after the failed claim");
    assert.deepEqual(claims, ["run_c1", "run_c1"]);
    await until(async () => (await queue.counts("dep_claim")).active === 0 && (await queue.counts("dep_claim")).waiting === 0, "the job settled");
    const counts = await queue.counts("dep_claim");
    assert.equal(counts.failed, 0, "the failed claim did not fail the job");
  });
  it("a schedule's fire the control plane refuses (the worker is joining again) is delivered again until it is taken, no attempt spent", { timeout: 60_000 }, async () => {
    const fires: number[] = [];
    const refusals = SCHEDULE_JOB_OPTIONS.attempts!;
    const source = new BullRunSource({
      cp: {
        async persist(_route: string, _signal: AbortSignal, input: { body: { firedAt: number } }) {
          fires.push(input.body.firedAt);
          // More refusals in a row than the fire's job has attempts.
          if (fires.length <= refusals) throw new Error("worker wrk_test was declared dead");
          return { runId: "run_from_fire" };
        },
      } as unknown as ControlPlane,
      me: { id: "wrk_test" },
      executor: { stopping: false } as RunExecutor,
      redisUrl: TEST_REDIS_URL,
      prefix,
      slots: 1,
      leaseMs: 2_000,
      reports: { claim: async () => ({ claimed: [], held: [] }) },
    });
    closers.push(() => source.close());
    const queue = new Queue(deploymentQueueName("dep_fire"), { connection: { url: TEST_REDIS_URL }, prefix });
    closers.push(() => queue.close());
    source.setDeployments(["dep_fire"]);
    const data: ScheduleJobData = { scheduleId: "sch_1", deploymentId: "dep_fire" };
    // Fires at once, then not for an hour.
    await queue.upsertJobScheduler("sch_1", { every: 3_600_000 }, { name: SCHEDULE_JOB, data, opts: SCHEDULE_JOB_OPTIONS });
    await until(() => fires.length > refusals, "the fire taken after the refusals", 30_000);
    assert.ok(fires.every((f) => f === fires[0]), "the same fire each time");
    await until(async () => (await queue.getJobCounts("active", "delayed", "waiting")).active === 0, "the job settled");
    assert.equal((await queue.getJobCounts("failed")).failed, 0, "the fire's job did not fail");
  });

  /**
   * A source with one slot over a fake executor whose calls stay open until the test ends them
   * (`calls.get(id)()`), claiming whatever is delivered; records what the source asked of it.
   */
  function gatedSource(o: { worker: string; deployment: string; longCallMs?: number; onClaim?: (runIds: string[]) => void }) {
    const queue = new BullRunQueue({ url: TEST_REDIS_URL, prefix });
    closers.push(() => queue.close());
    const seen = { claimed: [] as string[], executed: [] as string[], cancelledBeforeStart: [] as string[], released: [] as string[], mostAtOnce: 0 };
    const calls = new Map<string, () => void>();
    let running = 0;
    const executor = {
      stopping: false,
      callsAreShort: true,
      // 25 ms calls: one waits behind each running one (prefetch.ts, callsBehind).
      averageCallMs: 25,
      cancel: () => false,
      async execute(run: RunRow) {
        seen.executed.push(run.id);
        seen.mostAtOnce = Math.max(seen.mostAtOnce, ++running);
        await new Promise<void>((end) => calls.set(run.id, end));
        running--;
        return { settled: Promise.resolve<Verdict>("succeeded") };
      },
      async cancelBeforeStart(run: RunRow) {
        seen.cancelledBeforeStart.push(run.id);
      },
      async release(run: RunRow) {
        seen.released.push(run.id);
        return true;
      },
    } as unknown as RunExecutor;
    const source: BullRunSource = new BullRunSource({
      cp: {} as ControlPlane,
      me: { id: o.worker },
      executor,
      redisUrl: TEST_REDIS_URL,
      prefix,
      slots: 1,
      leaseMs: 5_000,
      ...(o.longCallMs !== undefined ? { longCallMs: o.longCallMs } : {}),
      reports: {
        async claim(runIds) {
          seen.claimed.push(...runIds);
          o.onClaim?.(runIds);
          return { claimed: runIds.map((id) => ({ id, attempt: 1, cancelRequested: false, deploymentId: o.deployment }) as RunRow), held: [] };
        },
      },
    });
    source.setDeployments([o.deployment]);
    const add = (id: string) => queue.add([{ id, deploymentId: o.deployment, maxRetries: 0, retryBackoffMs: 0, scheduledFor: null }]);
    const started = (id: string, what: string) => until(() => calls.has(id), what);
    const end = (id: string) => calls.get(id)!();
    /** One call that ends at once: the executor's pace is short from then on, so runs are held ahead. */
    const shortCall = async (id: string) => {
      await add(id);
      await started(id, "a short call first");
      end(id);
    };
    /** Ends each call as it starts, in whatever order they come, until all of `waited` have run. */
    const endEachAsItStarts = async (endedAlready: string[], waited: string[], what: string) => {
      const ended = new Set(endedAlready);
      while (!waited.every((id) => ended.has(id))) {
        const next = await until(() => [...calls.keys()].find((id) => !ended.has(id)), what);
        ended.add(next);
        end(next);
      }
    };
    return { source, seen, calls, add, started, end, shortCall, endEachAsItStarts };
  }

  it("claims runs ahead but starts two per slot while calls are short (one runs, one behind it); a cancel or a stop reaches runs still waiting for their slot or their claim", { timeout: 60_000 }, async () => {
    const { source, seen, add, started, end, shortCall } = gatedSource({
      worker: "wrk_gate",
      deployment: "dep_gate",
      // The calls here are held open by the test: none counts as long.
      longCallMs: 600_000,
      // The cancel of this one reaches the worker before its claim's answer does.
      onClaim: (runIds) => runIds.includes("run_g5") && source.cancel("run_g5"),
    });
    let closed: Promise<void> | undefined;
    closers.push(() => closed ?? source.close());
    await shortCall("run_g1");
    await add("run_g2");
    await started("run_g2", "the second run started");
    await add("run_g3");
    await started("run_g3", "the third run handed to the executor too: calls are short, it goes behind the second");
    await add("run_g4");
    await until(() => seen.claimed.includes("run_g4"), "the fourth run claimed while the second and third are in flight");
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(seen.executed, ["run_g1", "run_g2", "run_g3"], "the fourth waits for the slot");
    source.cancel("run_g4");
    await until(() => seen.cancelledBeforeStart.includes("run_g4"), "the waiting run cancelled");
    await add("run_g5");
    await until(() => seen.cancelledBeforeStart.includes("run_g5"), "the run cancelled before its claim's answer came is cancelled on arrival");
    await add("run_g6");
    await until(() => seen.claimed.includes("run_g6"), "the sixth run claimed");
    closed = source.close();
    await until(() => seen.released.includes("run_g6"), "the waiting run given back at the stop");
    end("run_g2");
    end("run_g3");
    await closed;
    assert.deepEqual(seen.executed, ["run_g1", "run_g2", "run_g3"], "neither waiting run ever started");
    assert.equal(seen.mostAtOnce, 2, "one slot: one call running and one behind it");
    assert.deepEqual(seen.cancelledBeforeStart, ["run_g4", "run_g5"]);
    assert.deepEqual(seen.released, ["run_g6"]);
  });

  it("a call that turns long hands the runs waiting behind it back to the queue, untouched", { timeout: 60_000 }, async () => {
    // A call turns long after 1 s here, so the run sent behind it is in before it does, even on a busy machine.
    const { source, seen, add, started, end, shortCall, endEachAsItStarts } = gatedSource({ worker: "wrk_long", deployment: "dep_long", longCallMs: 1_000 });
    closers.push(() => source.close());
    await shortCall("run_l0");
    await add("run_l1");
    await started("run_l1", "the call that turns long started");
    // Handed to the executor behind it while calls were short (the executor releases such a call
    // itself when it waits too long: test/platform/executor/behind.test.ts).
    await add("run_l2");
    await started("run_l2", "the run behind the call that turns long");
    await add("run_l3");
    await add("run_l4");
    await until(() => seen.released.includes("run_l3") && seen.released.includes("run_l4"), "the runs waiting for a slot behind the long call handed back");
    assert.deepEqual(seen.executed, ["run_l0", "run_l1", "run_l2"], "neither waiting run started behind it");
    end("run_l1");
    end("run_l2");
    // Back in the queue, they are delivered again and run, one at a time in the one slot (each call
    // here is held open until the test ends it, so one may hand the other back again meanwhile).
    await endEachAsItStarts(["run_l0", "run_l1", "run_l2"], ["run_l3", "run_l4"], "a handed-back run delivered again and run");
    assert.equal(seen.executed.length, 5, "each run ran once");
  });

  it("while a call runs long the worker holds no run it cannot start: one arriving meanwhile is not claimed (never shows running) until a slot frees", { timeout: 60_000 }, async () => {
    const { source, seen, add, started, end, shortCall } = gatedSource({ worker: "wrk_full", deployment: "dep_full", longCallMs: 300 });
    closers.push(() => source.close());
    const jobs = new Queue(deploymentQueueName("dep_full"), { connection: { url: TEST_REDIS_URL }, prefix });
    closers.push(() => jobs.close());
    // Short calls so far: the worker fetches ahead of its one slot, and runs a second call behind the first.
    await shortCall("run_f0");
    await add("run_f1");
    await started("run_f1", "the call that turns long");
    await add("run_f2");
    await started("run_f2", "the call sent behind it");
    // Both turn long (their watches were set before they were seen starting); the one behind ends
    // (taken back, say). The executor still calls the pace short: it counts calls still loading as none.
    await new Promise((r) => setTimeout(r, 400));
    end("run_f2");
    await add("run_f3");
    await new Promise((r) => setTimeout(r, 1_000));
    assert.ok(!seen.claimed.includes("run_f3"), "not claimed while the only slot runs a long call: the store never saw it running");
    assert.equal(await jobs.getJobState("run_f3"), "waiting");
    // (A fetch under way from when calls were short may take it once; the queue loop puts it back unseen.)
    assert.ok(((await jobs.getJob("run_f3"))?.attemptsStarted ?? 0) <= 1, "not fetched again and again to be handed back");
    assert.deepEqual(seen.released, [], "nothing claimed had to be given back");
    end("run_f1");
    await started("run_f3", "delivered once the slot is free, and run");
    end("run_f3");
    assert.deepEqual(seen.claimed, ["run_f0", "run_f1", "run_f2", "run_f3"], "each claimed once");
  });

  it("a rejoin (declared dead, joined again under a new id): a run waiting for a slot is dropped unreported and its job delivered again; a claim answered across the rejoin is handed back, not run", { timeout: 60_000 }, async () => {
    let rejoinDuring: string | undefined;
    const { source, seen, add, started, end, shortCall, endEachAsItStarts } = gatedSource({
      worker: "wrk_bull",
      deployment: "dep_rejoin",
      longCallMs: 600_000,
      onClaim: (runIds) => {
        if (rejoinDuring && runIds.includes(rejoinDuring)) {
          rejoinDuring = undefined;
          source.rejoined();
        }
      },
    });
    closers.push(() => source.close());
    const claimedTimes = (id: string) => seen.claimed.filter((c) => c === id).length;
    // A short call first: from then on deliveries are held ahead of the one slot.
    await shortCall("run_0");
    await add("run_1");
    await started("run_1", "run_1 running");
    await add("run_2");
    await started("run_2", "run_2 behind it");
    await add("run_3");
    await until(() => claimedTimes("run_3") === 1, "run_3 claimed, waiting for the slot");

    source.rejoined();
    await until(() => claimedTimes("run_3") === 2, "run_3's job delivered again and claimed afresh");
    assert.deepEqual(seen.released, [], "the dropped run was not handed back through the store (the control plane took it)");

    rejoinDuring = "run_4";
    await add("run_4");
    await until(() => seen.released.includes("run_4"), "run_4, claimed across the rejoin, handed back");
    await until(() => claimedTimes("run_4") === 2, "run_4 delivered again and claimed afresh");
    assert.deepEqual(seen.executed, ["run_0", "run_1", "run_2"], "neither waiting run started");
    assert.deepEqual(seen.cancelledBeforeStart, []);

    // The slot frees: both run, once each.
    end("run_1");
    end("run_2");
    await endEachAsItStarts(["run_0", "run_1", "run_2"], ["run_3", "run_4"], "a waiting run to start");
    assert.equal(seen.executed.length, 5, `each run ran once: ${JSON.stringify(seen.executed)}`);
  });
});
