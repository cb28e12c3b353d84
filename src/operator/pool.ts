import { assertNotInRuntime } from "../runtime-context.ts";
import { availableParallelism } from "node:os";
import { Piscina } from "piscina";
import { fromWire, toWire } from "../codec/index.ts";
import { fanOut } from "./fan-out.ts";
import { locateOperator } from "./locate.ts";
import type { MapOptions } from "./map.ts";
import type { Operator } from "./operator.ts";
import type { PoolReply, PoolTask } from "./pool-task.ts";

const WORKER = new URL("./pool-worker.mjs", import.meta.url).href;

// A worker thread costs ~1s to boot (tsx loader + the user's module graph), so pools are kept
// per thread count and reused across map calls. Idle threads are unref'd by piscina (they never
// hold the process open) and exit after IDLE_MS.
const IDLE_MS = 30_000;
const pools = new Map<number, Piscina>();
function poolFor(threads: number): Piscina {
  let pool = pools.get(threads);
  if (!pool) {
    pool = new Piscina({ filename: WORKER, minThreads: 0, maxThreads: threads, idleTimeout: IDLE_MS });
    pools.set(threads, pool);
  }
  return pool;
}

/** Stop every cached worker pool (tests, shutdown). */
export async function closePools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((p) => p.destroy()));
}

/** Run calls of `op` across `opts.processes` worker threads (piscina), same ordering and error semantics as in-process map. */
export async function mapInPool(op: Operator, argLists: unknown[][], opts: MapOptions): Promise<unknown[]> {
  assertNotInRuntime("map({ processes })");
  const threads = opts.processes === 0 ? availableParallelism() : opts.processes!;
  if (!Number.isInteger(threads) || threads < 0) throw new RangeError(`map: processes must be a non-negative integer (0 = one per core), got ${opts.processes}`);
  const locator = await locateOperator(op);
  if (argLists.length === 0) return [];
  const pool = poolFor(threads);
  // The whole locator, not file#export: two instances of one Operator class with different
  // fields (state snapshot) must not share a rebuilt operator in a reused thread.
  const key = JSON.stringify(locator);
  return fanOut(
    argLists.length,
    async (i) => {
      const task: PoolTask = { locator, key, args: argLists[i]!.map((a, j) => toWire(a, { path: `inputs[${i}][${j}]` })) };
      const reply = (await pool.run(task, { signal: opts.signal })) as PoolReply;
      if (!reply.ok) throw fromWire(reply.error);
      return fromWire(reply.value);
    },
    { ...opts, concurrency: opts.concurrency ?? threads * 4 },
  );
}
