// Does a second worker add throughput? Runs/s of a remote.map of CPU-bound runs (~2 ms of CPU
// each) on Postgres + BullMQ with no local worker, first with one `nbx worker --slots 1`, then
// with a second one joined — baseline and value from the same control plane, same run, same map
// (up to 5,000 items; fewer when one worker is so slow here that the map would take over ~12 s).
import { result, type BenchCase } from "../harness.ts";
import { itemsFor, scaleServicesMissing, spinIterations, startScalePlatform, timedMap, warmWorkers } from "./scale-fixture.ts";

const MAX_ITEMS = 5_000;
const MIN_ITEMS = 500;
const TIMED_S = 12;
const CPU_MS = 2;

export const scaleWorkers: BenchCase = {
  name: "scale-2-workers",
  description: `Postgres + BullMQ, remote.map of ≤ ${MAX_ITEMS} runs of ~${CPU_MS} ms CPU: 2 workers vs 1 (nbx worker --slots 1)`,
  async run() {
    const missing = await scaleServicesMissing();
    if (missing) throw new Error(`scale-2-workers needs Postgres and Redis: ${missing}`);
    const n = spinIterations(CPU_MS);
    const s = await startScalePlatform();
    try {
      // Deployed before any worker joins: a worker learns the job queues when it registers.
      const remote = await s.ops.spin.deploy("bench", { client: s.client });
      const a = await s.addWorker(1);
      await warmWorkers(s, remote, [a.id], n);
      const probe = await timedMap(s, remote, Array.from({ length: 100 }, () => n));
      const items = Array.from({ length: itemsFor(probe.rate, TIMED_S, MIN_ITEMS, MAX_ITEMS) }, () => n);
      const one = await timedMap(s, remote, items);
      const b = await s.addWorker(1);
      await warmWorkers(s, remote, [b.id], n);
      const two = await timedMap(s, remote, items);
      console.error(`  ${items.length} items, ${n} iterations ≈ ${CPU_MS} ms CPU per run; runs per worker: 1 worker ${JSON.stringify(one.split)}, 2 workers ${JSON.stringify(two.split)}`);
      return [
        result({
          name: "scale-2-workers",
          value: two.rate,
          unit: `items/s of ${items.length} (remote.map, calls batched), 2 workers --slots 1, ~${CPU_MS} ms CPU each (target: ratio ≥ 1.8)`,
          baseline: "same map, 1 worker",
          baselineValue: one.rate,
          target: 1.8,
          better: "higher",
          targetOn: "ratio",
        }),
      ];
    } finally {
      await s.close();
    }
  },
};
