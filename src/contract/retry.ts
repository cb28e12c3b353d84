// When a failed attempt is tried again: the store applies it when a run is requeued, the worker when
// it answers the queue, and both must agree with what the API shows as the next attempt's time.

// Retry backoff doubles per attempt, capped so a long retry chain still makes progress.
export const MAX_RETRY_BACKOFF_MS = 5 * 60_000;

/** Delay before the attempt after `attempt` (1-based) failed. */
export function retryDelayMs(baseMs: number, attempt: number): number {
  return Math.min(baseMs * 2 ** (attempt - 1), MAX_RETRY_BACKOFF_MS);
}
