// Cost of tracing: an operator call (span, async context, DAG edge) vs calling the same function directly.
import { operator } from "../../src/index.ts";
import { compareMs, result, type BenchCase } from "../harness.ts";

const CALLS = 200_000;
const ROUNDS = 7;

const square = operator(async function square(x: number) {
  return x * x;
});
const plain = square.fn;

async function loop(call: (x: number) => Promise<number>): Promise<number> {
  let acc = 0;
  for (let i = 0; i < CALLS; i++) acc += await call(i & 1023);
  return acc;
}

export const callOverhead: BenchCase = {
  name: "call-overhead",
  description: `awaited traced operator call vs the same async function called directly, ${CALLS} calls × ${ROUNDS} rounds`,
  async run() {
    const ms = await compareMs({ traced: () => loop(square), plain: () => loop(plain) }, { rounds: ROUNDS, warmup: 2 });
    const usPerCall = (t: number) => (t * 1000) / CALLS;
    return [
      result({
        name: "call-overhead",
        value: usPerCall(ms.traced) - usPerCall(ms.plain),
        unit: "µs/call extra (traced − plain)",
        baseline: "plain async call",
        baselineValue: usPerCall(ms.plain),
        target: 1.0,
        better: "lower",
      }),
    ];
  },
};
