// Fan-out cost: op.map over 100k tiny items vs Promise.all of plain calls of the same function.
import { operator } from "../../src/index.ts";
import { compareMs, result, type BenchCase } from "../harness.ts";

const ITEMS = 100_000;
const ROUNDS = 5;

const tiny = operator(async function tiny(x: number) {
  return x + 1;
});
const plain = tiny.fn;
const inputs = Array.from({ length: ITEMS }, (_, i) => i);

export const map100k: BenchCase = {
  name: "map-100k",
  description: `op.map of ${ITEMS} tiny async items vs Promise.all of plain calls, ${ROUNDS} rounds`,
  async run() {
    const ms = await compareMs(
      {
        map: () => tiny.map(inputs),
        promiseAll: () => Promise.all(inputs.map((x) => plain(x))),
      },
      { rounds: ROUNDS, warmup: 1 },
    );
    const perSec = (t: number) => ITEMS / (t / 1000);
    return [
      result({
        name: "map-100k",
        value: perSec(ms.map),
        unit: "items/s (target: ratio ≥ 0.5)",
        baseline: "Promise.all of plain calls",
        baselineValue: perSec(ms.promiseAll),
        target: 0.5,
        better: "higher",
        targetOn: "ratio",
      }),
    ];
  },
};
