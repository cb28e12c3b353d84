import { availableParallelism } from "node:os";
import { Piscina } from "piscina";
import { fromWire, toWire } from "../codec/index.ts";
import { fanOut } from "./fan-out.ts";
import { locateOperator } from "./locate.ts";
import type { MapOptions } from "./map.ts";
import type { Operator } from "./operator.ts";
import type { PoolReply, PoolTask } from "./pool-task.ts";

const WORKER = new URL("./pool-worker.mjs", import.meta.url).href;

/** Run calls of `op` across `opts.processes` worker threads (piscina), same ordering and error semantics as in-process map. */
export async function mapInPool(op: Operator, argLists: unknown[][], opts: MapOptions): Promise<unknown[]> {
  const threads = opts.processes === 0 ? availableParallelism() : opts.processes!;
  if (!Number.isInteger(threads) || threads < 0) throw new RangeError(`map: processes must be a non-negative integer (0 = one per core), got ${opts.processes}`);
  const locator = await locateOperator(op);
  const pool = new Piscina({ filename: WORKER, minThreads: Math.min(threads, argLists.length), maxThreads: threads, idleTimeout: 1000 });
  const key = `${locator.file}#${locator.exportName}`;
  try {
    return await fanOut(
      argLists.length,
      async (i) => {
        const task: PoolTask = { locator, key, args: argLists[i]!.map((a, j) => toWire(a, { path: `inputs[${i}][${j}]` })) };
        const reply = (await pool.run(task, { signal: opts.signal })) as PoolReply;
        if (!reply.ok) throw fromWire(reply.error);
        return fromWire(reply.value);
      },
      { ...opts, concurrency: opts.concurrency ?? threads * 4 },
    );
  } finally {
    await pool.destroy();
  }
}
