// Does a second worker add throughput? Runs/s of a remote.map of CPU-bound runs (~2 ms of CPU
// each) on Postgres + BullMQ with no local worker, first with one `nbx worker --slots 1`, then
// with a second one joined — baseline and value from the same control plane, same run.
import { result, type BenchCase } from "../harness.ts";
import { scaleServicesMissing, spinIterations, startScalePlatform, timedMap, warmWorkers } from "./scale-fixture.ts";

const ITEMS = 2_000;
const CPU_MS = 2;

export const scaleWorkers: BenchCase = {
  name: "scale-2-workers",
  description: `Postgres + BullMQ, remote.map of ${ITEMS} runs of ~${CPU_MS} ms CPU: 2 workers vs 1 (nbx worker --slots 1)`,
  async run() {
    const missing = await scaleServicesMissing();
    if (missing) throw new Error(`scale-2-workers needs Postgres and Redis: ${missing}`);
    const n = spinIterations(CPU_MS);
    const s = await startScalePlatform();
    try {
      // Deployed before any worker joins: a worker learns the job queues when it registers.
      const remote = await s.ops.spin.deploy("bench", { client: s.client });
      const items = Array.from({ length: ITEMS }, () => n);
      const a = await s.addWorker(1);
      await warmWorkers(s, remote, [a.id], n);
      const one = await timedMap(s, remote, items);
      const b = await s.addWorker(1);
      await warmWorkers(s, remote, [b.id], n);
      const two = await timedMap(s, remote, items);
      console.error(`  ${n} iterations ≈ ${CPU_MS} ms CPU per run; runs per worker: 1 worker ${JSON.stringify(one.split)}, 2 workers ${JSON.stringify(two.split)}`);
      return [
        result({
          name: "scale-2-workers",
          value: two.rate,
          unit: `runs/s, 2 workers --slots 1, ~${CPU_MS} ms CPU each (target: ratio ≥ 1.8)`,
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
