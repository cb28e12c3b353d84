// Shared pieces of the BullMQ queue tests: the test Redis, a fresh key prefix, cleanup by prefix,
// and small waiting helpers that wait on conditions (never on elapsed time).
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

export const TEST_REDIS_URL = process.env.NBOX_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/** null when the test Redis answers, else why not. */
export async function redisUnavailable(): Promise<string | null> {
  const r = new Redis(TEST_REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  r.on("error", () => {});
  try {
    await r.connect();
    await r.ping();
    return null;
  } catch (err) {
    return `no Redis at ${TEST_REDIS_URL}: ${(err as Error).message}`;
  } finally {
    r.disconnect();
  }
}

/** Skip value for a describe(): skipped with the reason outside CI, run (and fail) in CI. */
export async function redisSkip(): Promise<string | false> {
  const why = await redisUnavailable();
  return why && process.env.CI !== "true" ? why : false;
}

/** A key prefix no other test uses. */
export const freshPrefix = (): string => `nbxtest:${randomBytes(5).toString("hex")}`;

/** Every key under `prefix:`, in SCAN batches (never KEYS). */
async function eachKeyBatch(prefix: string, use: (r: Redis, keys: string[]) => Promise<unknown>): Promise<void> {
  const r = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
      cursor = next;
      if (keys.length) await use(r, keys);
    } while (cursor !== "0");
  } finally {
    r.disconnect();
  }
}

/** Delete every key under `prefix:`. */
export async function deleteKeys(prefix: string): Promise<number> {
  let deleted = 0;
  await eachKeyBatch(prefix, async (r, keys) => (deleted += await r.del(...keys)));
  return deleted;
}

/** Count keys under `prefix:`. */
export async function countKeys(prefix: string): Promise<number> {
  let n = 0;
  await eachKeyBatch(prefix, async (_r, keys) => (n += keys.length));
  return n;
}

/** Poll `check` every 20 ms until it returns a value other than undefined/false. */
export async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A promise with its resolve function outside. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
