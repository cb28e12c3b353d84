// Every default the store applies, in one place. Callers pass `undefined` to get these;
// 0 is always a real value (the repos use `??`, never `||`).
export const STORE_DEFAULTS = {
  /** Retries after the first attempt (total attempts = maxRetries + 1). */
  maxRetries: 0,
  /** Base backoff between attempts; the executor decides the curve. */
  retryBackoffMs: 1_000,
  /** null = no timeout. */
  timeoutMs: null as number | null,
  /** Page size of list* calls, and the most any single call returns. */
  listLimit: 50,
  maxListLimit: 1_000,
  /** getLogs page size. */
  logsLimit: 10_000,
  /** Bytes of log lines one run keeps (over all its attempts); what it prints past that is dropped. */
  maxRunLogBytes: 8 * 1024 * 1024,
  /** Rows per INSERT for batched inserts (logs, spans): keeps params far below Postgres' 65535. */
  insertBatch: 500,
  scheduleTimezone: "UTC",
  /** node-postgres pool size. */
  poolSize: 10,
  /** How long a claim holds a run without a heartbeat before any node may take it back. */
  leaseMs: 20_000,
} as const;

/** Clamp a caller-supplied page size. */
export function listLimit(limit: number | undefined, fallback: number = STORE_DEFAULTS.listLimit): number {
  const n = limit ?? fallback;
  if (!Number.isFinite(n) || n < 0) return fallback;
  return Math.min(Math.floor(n), Math.max(STORE_DEFAULTS.maxListLimit, fallback));
}
