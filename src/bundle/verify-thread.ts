// Verifying an upload means inflating, parsing and hashing up to the reading limits: seconds of CPU for
// a hostile archive. It runs on a worker thread so the API's event loop only moves bytes meanwhile.
// Threads start on first use (about a second, for the TypeScript loader) and exit when idle.
import { availableParallelism } from "node:os";
import { Piscina } from "piscina";
import type { BundleLimits } from "./limits.ts";
import { errorFromReply, type VerifyReply, type VerifyTask } from "./verify-task.ts";
import type { VerifiedBundle } from "./verify.ts";

const WORKER = new URL("./verify-worker.mjs", import.meta.url).href;
const IDLE_MS = 60_000;
let pool: Piscina | undefined;

/** verifyBundle on a worker thread: same result, same error classes. */
export async function verifyBundleInThread(file: string, expectedHash: string, limits?: Partial<BundleLimits>): Promise<VerifiedBundle> {
  pool ??= new Piscina({ filename: WORKER, minThreads: 0, maxThreads: Math.max(1, Math.min(2, availableParallelism() - 1)), idleTimeout: IDLE_MS });
  const task: VerifyTask = { file, expectedHash, limits };
  const reply = (await pool.run(task)) as VerifyReply;
  if (!reply.ok) throw errorFromReply(reply.error);
  return reply.value;
}
