// Batched calls: one run that carries several calls of its job, run one after the other in one
// process. Remote map sends short items this way, so what a run costs the platform (its row, its
// claim, its report, its wait) is paid once per batch instead of once per item. Each call keeps
// its own outcome; the run as a whole fails only when something ended all of its calls (its
// process crashed or was stopped, its time ran out, it was cancelled).
import type { StoredError } from "./vocabulary.ts";

/** Calls one run may carry. */
export const MAX_CALLS_PER_RUN = 1_000;

/** One call's outcome, as a batched run's result lists them (values in the tagged wire encoding). */
export type BatchedCallOutcome = { ok: true; value: unknown } | { ok: false; error: StoredError };

/**
 * A batched run's limit: its job's per-call limit for every call it carries (a call's limit never
 * shrinks by being batched), within what the store's integer column holds.
 */
export function batchedTimeoutMs(perCallMs: number | null, calls: number): number | null {
  return perCallMs === null ? null : Math.min(perCallMs * calls, 2 ** 31 - 1);
}
