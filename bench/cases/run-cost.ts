// What one run costs on the scale path, over every process it touches: CPU per no-op run of a
// remote.map on Postgres + BullMQ with one `nbx worker --slots 1` (the control plane and the client
// share this process), split by process, with the Redis commands and Postgres transactions per run;
// against the CPU per job of plain BullMQ moving empty jobs (this process and Redis), measured in the
// same run after the platform is gone. Needs Linux (/proc) and the Postgres and Redis of scale-*.
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import pg from "pg";
import { result, type BenchCase } from "../harness.ts";
import { bullmqRawThroughput } from "./bullmq-raw.ts";
import { cpuByGroup, perItem, procAvailable } from "./process-cpu.ts";
import { BENCH_DATABASE_URL, BENCH_REDIS_URL, scaleServicesMissing, startScalePlatform, timedMap, warmWorkers } from "./scale-fixture.ts";

const RUNS = 4_000;

async function redisCommands(): Promise<number> {
  const r = new Redis(BENCH_REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    const info = await r.info("commandstats");
    // The INFO call itself is one command; it is the same before and after.
    return [...info.matchAll(/calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
  } finally {
    r.disconnect();
  }
}

async function pgTransactions(): Promise<number> {
  const c = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  await c.connect();
  try {
    const { rows } = await c.query<{ n: string }>("select xact_commit + xact_rollback as n from pg_stat_database where datname = current_database()");
    return Number(rows[0]?.n ?? 0);
  } finally {
    await c.end();
  }
}

export const runCost: BenchCase = {
  name: "run-cost",
  description: `CPU per no-op run over all processes (Postgres + BullMQ, 1 worker --slots 1, ${RUNS} runs) vs plain BullMQ's CPU per empty job`,
  async run() {
    const missing = await scaleServicesMissing();
    if (missing) throw new Error(`run-cost needs Postgres and Redis: ${missing}`);
    if (!procAvailable()) throw new Error("run-cost reads process CPU times from /proc (Linux only)");
    let split: ReturnType<typeof perItem<"benchProcess" | "workers" | "children" | "postgres" | "redis">>;
    let commands: number;
    let transactions: number;
    const s = await startScalePlatform();
    try {
      // One call per run: a job that retries is never batched (remote map sends a job without
      // retries its short calls several to a run; what a map item costs then is scale-vs-bullmq's).
      const remote = await s.ops.noop.deploy("bench", { client: s.client, resource: { maxRetries: 1 } });
      const w = await s.addWorker(1);
      await warmWorkers(s, remote, [w.id], 0);
      await timedMap(s, remote, Array.from({ length: 1000 }, (_, i) => i));
      const [c0, t0] = [await redisCommands(), await pgTransactions()];
      const before = cpuByGroup([w.pid]);
      await timedMap(s, remote, Array.from({ length: RUNS }, (_, i) => i));
      const after = cpuByGroup([w.pid]);
      await sleep(1500); // Postgres publishes transaction counts with a delay
      commands = ((await redisCommands()) - c0 - 1) / RUNS;
      transactions = ((await pgTransactions()) - t0 - 1) / RUNS;
      split = perItem(before, after, RUNS);
    } finally {
      await s.close();
    }
    const rawCommandsBefore = await redisCommands();
    const rawBefore = cpuByGroup([]);
    await bullmqRawThroughput({ url: BENCH_REDIS_URL, jobs: RUNS, concurrency: 50 });
    const raw = perItem(rawBefore, cpuByGroup([]), RUNS);
    const rawCommands = ((await redisCommands()) - rawCommandsBefore - 1) / RUNS;
    const total = Object.values(split).reduce((a, b) => a + b, 0);
    const rawTotal = raw.benchProcess + raw.redis;
    const ms = (x: number) => x.toFixed(2);
    console.error(
      `  per run: control plane + client ${ms(split.benchProcess)} ms, worker ${ms(split.workers)}, children ${ms(split.children)}, Postgres ${ms(split.postgres)}, Redis ${ms(split.redis)}; ` +
        `${commands.toFixed(1)} Redis commands (Lua steps included), ${transactions.toFixed(2)} Postgres transactions; plain BullMQ per job: process ${ms(raw.benchProcess)} ms, Redis ${ms(raw.redis)} ms, ${rawCommands.toFixed(1)} Redis commands`,
    );
    return [
      result({
        name: "run-cost",
        value: total,
        unit: `CPU ms per no-op run (one call per run), all processes (cp ${ms(split.benchProcess)}, worker ${ms(split.workers)}, children ${ms(split.children)}, pg ${ms(split.postgres)}, redis ${ms(split.redis)})`,
        baseline: "plain BullMQ, CPU ms per empty job",
        baselineValue: rawTotal,
        target: 2,
        better: "lower",
        targetOn: "ratio",
      }),
    ];
  },
};
