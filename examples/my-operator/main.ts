// Example "my-operator", used in-process: `npm install` once in this folder, then `npm start` (node --import tsx main.ts).
import { getTracer } from "nbox";
import { job } from "./ops.ts";

console.log(String(job));
console.log(`job(2) = ${await job(2)}`); // (1 + 2) * 3 + 2

// The trace of the call above: one span per operator, nested like the tree.
const last = getTracer().memory.spans().at(-1)!;
for (const span of getTracer().spansOf(last.traceId)) {
  console.log(`span ${span.op} (${span.name}) ${span.status}`);
}
console.log(`dag edges = ${JSON.stringify(job.getDag().edges.map((e) => `${e.from}->${e.to}`))}`);
console.log(`job.map([0, 1, 2]) = ${JSON.stringify(await job.map([0, 1, 2]))}`);
// The same map in 2 worker threads: each rebuilds `job` from ./ops.ts (its export) with the same fields.
console.log(`job.map([3, 4], { processes: 2 }) = ${JSON.stringify(await job.map([3, 4], { processes: 2 }))}`);
