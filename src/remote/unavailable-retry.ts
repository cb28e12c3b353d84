// When a serving call is asked again. A serving being placed, moved or restarted answers
// 503 UNAVAILABLE with Retry-After: the request never reached user code, so any method may be sent
// again. A 503 WORKER_CRASHED (its process died during the call) may have run it: only a read
// (GET) is asked again — a method call such as `inc()` sent twice would count twice.
import { NboxError } from "../errors.ts";

/** How long a serving call keeps asking while its serving is unavailable (default). */
export const DEFAULT_RETRY_UNAVAILABLE_MS = 30_000;

const MIN_WAIT_MS = 50;
const MAX_WAIT_MS = 5_000;
const DEFAULT_WAIT_MS = 1_000;

/** Milliseconds to wait before asking again, or undefined when this answer must not be retried. */
export function retryWaitMs(status: number, code: string | undefined, method: string, retryAfter: string | undefined): number | undefined {
  if (status !== 503) return undefined;
  if (code !== "UNAVAILABLE" && !(code === "WORKER_CRASHED" && method === "GET")) return undefined;
  return retryAfterMs(retryAfter);
}

/** `Retry-After` (seconds, or an HTTP date) in milliseconds from `now`; undefined when absent or unreadable. */
export function readRetryAfter(header: string | undefined, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const ms = /^\s*\d+(\.\d+)?\s*$/.test(header) ? Number(header) * 1000 : Date.parse(header) - now;
  return Number.isFinite(ms) ? Math.max(0, ms) : undefined;
}

/** `Retry-After` kept between 50 ms and 5 s (1 s when absent or unreadable). */
export function retryAfterMs(header: string | undefined, now = Date.now()): number {
  const ms = readRetryAfter(header, now);
  return ms === undefined ? DEFAULT_WAIT_MS : Math.min(MAX_WAIT_MS, Math.max(MIN_WAIT_MS, ms));
}

/** A retry budget that must be a non-negative number of milliseconds. */
export function checkRetryBudget(ms: number | undefined): number {
  if (ms === undefined) return DEFAULT_RETRY_UNAVAILABLE_MS;
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw new NboxError("BAD_REQUEST", `retryUnavailableMs must be a non-negative number of milliseconds, got ${String(ms)}`, "Pass 0 to turn retries off, or how long a call may keep asking (default 30000)");
  }
  return ms;
}
