// Baseline for the BullMQ run queue: plain BullMQ moving N empty jobs from enqueue to completed
// (one addBulk, one Worker with concurrency c, no nbox code), on a fresh key prefix that is
// removed afterwards. What nbox's queue adds on top is measured against this number.
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";

export interface BullmqRawOptions {
  /** Default `redis://127.0.0.1:6379` (or NBOX_BENCH_REDIS_URL). */
  url?: string;
  /** Jobs to move (default 10 000). */
  jobs?: number;
  /** Worker concurrency (default 50). */
  concurrency?: number;
}

export interface BullmqRawResult {
  jobsPerSec: number;
  ms: number;
  jobs: number;
  concurrency: number;
}

/** Enqueue→complete throughput of plain BullMQ on empty jobs, in jobs per second. */
export async function bullmqRawThroughput(opts: BullmqRawOptions = {}): Promise<BullmqRawResult> {
  const url = opts.url ?? process.env.NBOX_BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
  const jobs = opts.jobs ?? 10_000;
  const concurrency = opts.concurrency ?? 50;
  const prefix = `nbxbench:${randomBytes(5).toString("hex")}`;
  const queueConn = new Redis(url, { maxRetriesPerRequest: 1 });
  const workerConn = new Redis(url, { maxRetriesPerRequest: null });
  const queue = new Queue("raw", { connection: queueConn, prefix });
  let completed = 0;
  let target = 0;
  let reached: () => void = () => {};
  const worker = new Worker(
    "raw",
    async () => {
      if (++completed === target) reached();
    },
    { connection: workerConn, prefix, concurrency },
  );
  const move = async (from: number, n: number) => {
    target = completed + n;
    const done = new Promise<void>((resolve) => (reached = resolve));
    // Same settings as nbox's run jobs: id given, finished jobs removed.
    for (let i = 0; i < n; i += 1000) {
      const chunk = Math.min(1000, n - i);
      await queue.addBulk(Array.from({ length: chunk }, (_, k) => ({ name: "run", data: {}, opts: { jobId: `j${from + i + k}`, removeOnComplete: true, removeOnFail: true } })));
    }
    await done;
  };
  try {
    await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
    // Untimed warm-up: scripts loaded, connections and JIT warm.
    await move(0, Math.min(500, jobs));
    const t0 = performance.now();
    await move(jobs, jobs);
    const ms = performance.now() - t0;
    return { jobsPerSec: (jobs / ms) * 1000, ms, jobs, concurrency };
  } finally {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    // Leftovers (event stream, meta, id counter) under the fresh prefix.
    let cursor = "0";
    do {
      const [next, keys] = await queueConn.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
      cursor = next;
      if (keys.length) await queueConn.del(...keys);
    } while (cursor !== "0");
    queueConn.disconnect();
    workerConn.disconnect();
  }
}
