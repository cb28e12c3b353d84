// What nbox's scale path costs on top of the queue it runs on: items/s of a remote.map of no-op
// calls on Postgres + BullMQ with two `nbx worker --slots 4` processes, against plain BullMQ moving
// as many empty jobs from enqueue to completed on the same Redis (measured before and after, averaged).
// Up to 5,000 runs; fewer when the warm-up rate says the map would take over ~12 s here.
import { result, type BenchCase } from "../harness.ts";
import { bullmqRawThroughput } from "./bullmq-raw.ts";
import { BENCH_REDIS_URL, itemsFor, scaleServicesMissing, startScalePlatform, timedMap, warmWorkers } from "./scale-fixture.ts";

const MAX_RUNS = 5_000;
const MIN_RUNS = 1_000;
const TIMED_S = 12;
const WORKERS = 2;
const SLOTS = 4;
const RAW_CONCURRENCY = 50;

export const scaleVsBullmq: BenchCase = {
  name: "scale-vs-bullmq",
  description: `Postgres + BullMQ, remote.map of ≤ ${MAX_RUNS} no-op runs on ${WORKERS} workers (--slots ${SLOTS}) vs raw BullMQ enqueue→complete of as many empty jobs`,
  async run() {
    const missing = await scaleServicesMissing();
    if (missing) throw new Error(`scale-vs-bullmq needs Postgres and Redis: ${missing}`);
    const raw = async (jobs: number) => (await bullmqRawThroughput({ url: BENCH_REDIS_URL, jobs, concurrency: RAW_CONCURRENCY })).jobsPerSec;
    let nbox: Awaited<ReturnType<typeof timedMap>>;
    let runs: number;
    let rawBefore: number;
    const s = await startScalePlatform();
    try {
      const remote = await s.ops.noop.deploy("bench", { client: s.client });
      const ids: string[] = [];
      for (let i = 0; i < WORKERS; i++) ids.push((await s.addWorker(SLOTS)).id);
      // Every worker has run something, and every slot's process has started, before the clock runs.
      await warmWorkers(s, remote, ids, 0);
      const probe = await timedMap(s, remote, Array.from({ length: 500 }, (_, i) => i));
      runs = itemsFor(probe.rate, TIMED_S, MIN_RUNS, MAX_RUNS);
      rawBefore = await raw(runs);
      nbox = await timedMap(s, remote, Array.from({ length: runs }, (_, i) => i));
    } finally {
      await s.close();
    }
    const rawAfter = await raw(runs);
    console.error(`  ${runs} runs / jobs; raw BullMQ ${rawBefore.toFixed(0)} jobs/s before, ${rawAfter.toFixed(0)} after; nbox runs per worker ${JSON.stringify(nbox.split)}`);
    return [
      result({
        name: "scale-vs-bullmq",
        value: nbox.rate,
        unit: `items/s of ${runs} no-ops (remote.map, calls batched), ${WORKERS} workers --slots ${SLOTS} (target: ratio ≥ 0.5)`,
        baseline: `raw BullMQ empty jobs/s (${runs} jobs, concurrency ${RAW_CONCURRENCY})`,
        baselineValue: (rawBefore + rawAfter) / 2,
        target: 0.5,
        better: "higher",
        targetOn: "ratio",
      }),
    ];
  },
};
