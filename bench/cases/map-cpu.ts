// CPU-bound fan-out: op.map(..., { processes: 2 }) vs piscina used directly on the same work,
// and vs one core in-process. nbox keeps its worker pool between map calls, so the piscina
// baseline keeps one pool too: both sides are warmed once and then timed in steady state.
import { Piscina } from "piscina";
import { closePools } from "../../src/operator/pool.ts";
import { cpuWork, spin } from "../fixtures/cpu.ts";
import { compareMs, median, result, timeMs, type BenchCase } from "../harness.ts";

const THREADS = 2;
const ITEMS = 300;
const ITEM_MS = 10;
const ROUNDS = 5;
const WORKER = new URL("../fixtures/cpu-worker.mjs", import.meta.url).href;

/** Pick `n` so that one item costs about ITEM_MS on this machine. */
async function calibrate(): Promise<number> {
  let n = 100_000;
  for (;;) {
    const ms = median([await timeMs(() => spin(n)), await timeMs(() => spin(n)), await timeMs(() => spin(n))]);
    if (ms > 20) return Math.max(1, Math.round((n * ITEM_MS) / ms));
    n *= 4;
  }
}

export const mapCpu: BenchCase = {
  name: "map-cpu",
  description: `${ITEMS} CPU-bound items of ~${ITEM_MS} ms: map({ processes: ${THREADS} }) vs piscina direct and vs 1 core in-process`,
  async run() {
    const n = await calibrate();
    const inputs = Array.from({ length: ITEMS }, () => n);
    const expected = spin(n);
    const check = (out: number[]) => {
      if (out.length !== ITEMS || out.some((v) => v !== expected)) throw new Error("map-cpu: wrong results");
    };
    const pool = new Piscina({ filename: WORKER, minThreads: THREADS, maxThreads: THREADS });
    const warm = Array.from({ length: THREADS * 4 }, () => 1);
    let ms: Record<"nbox" | "piscina" | "single", number>;
    try {
      // Boot every thread of both pools (tsx loader + module graph) outside the timed rounds.
      await cpuWork.map(warm, { processes: THREADS });
      await Promise.all(warm.map((n) => pool.run(n)));
      ms = await compareMs(
        {
          nbox: async () => check(await cpuWork.map(inputs, { processes: THREADS })),
          piscina: async () => check(await Promise.all(inputs.map((n) => pool.run(n) as Promise<number>))),
          single: async () => check(await cpuWork.map(inputs)),
        },
        { rounds: ROUNDS, warmup: 0 },
      );
    } finally {
      await Promise.all([pool.destroy(), closePools()]);
    }
    const perSec = (t: number) => ITEMS / (t / 1000);
    return [
      result({
        name: "map-cpu",
        value: perSec(ms.nbox),
        unit: "items/s (target: ratio ≥ 0.9)",
        baseline: `piscina direct, ${THREADS} threads`,
        baselineValue: perSec(ms.piscina),
        target: 0.9,
        better: "higher",
        targetOn: "ratio",
      }),
      result({
        name: "map-cpu-speedup",
        value: perSec(ms.nbox),
        unit: `items/s (target: speedup ratio ≥ 1.5 with ${THREADS} threads)`,
        baseline: "in-process map, 1 core",
        baselineValue: perSec(ms.single),
        target: 1.5,
        better: "higher",
        targetOn: "ratio",
      }),
    ];
  },
};
