// CPU-bound fan-out: op.map(..., { processes: 2 }) vs piscina used directly on the same work,
// and vs one core in-process. Pool start-up and shutdown are timed on both pool sides.
import { Piscina } from "piscina";
import { cpuWork, spin } from "../fixtures/cpu.ts";
import { compareMs, median, result, timeMs, type BenchCase } from "../harness.ts";

const THREADS = 2;
const ITEMS = 300;
const ITEM_MS = 10;
const ROUNDS = 3;
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

async function piscinaDirect(inputs: number[]): Promise<number[]> {
  const pool = new Piscina({ filename: WORKER, minThreads: THREADS, maxThreads: THREADS });
  try {
    return await Promise.all(inputs.map((n) => pool.run(n) as Promise<number>));
  } finally {
    await pool.destroy();
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
    // Warm the on-disk TypeScript cache both pools load from; every timed run starts its own pool.
    await cpuWork.map([1, 1], { processes: THREADS });
    await piscinaDirect([1, 1]);
    const ms = await compareMs(
      {
        nbox: async () => check(await cpuWork.map(inputs, { processes: THREADS })),
        piscina: async () => check(await piscinaDirect(inputs)),
        single: async () => check(await cpuWork.map(inputs)),
      },
      { rounds: ROUNDS, warmup: 0 },
    );
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
