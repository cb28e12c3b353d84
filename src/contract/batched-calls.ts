// Batched calls: one run that carries several calls of its job, run one after the other in one
// process. Remote map sends short items this way, so what a run costs the platform (its row, its
// claim, its report, its wait) is paid once per batch instead of once per item. Each call keeps
// its own outcome; the run as a whole fails only when something ended all of its calls (its
// process crashed or was stopped, its time ran out, it was cancelled).
import type { StoredError } from "./vocabulary.ts";

/** Calls one run may carry. */
export const MAX_CALLS_PER_RUN = 1_000;

/** What ended a batched call that its own code did not end: the process crashed, or the call ran out of time. */
export type BatchedCallCut = "WORKER_CRASHED" | "TIMEOUT";

/** One call's outcome, as a batched run's result lists them (values in the tagged wire encoding). */
export type BatchedCallOutcome = { ok: true; value: unknown } | { ok: false; error: StoredError; code?: BatchedCallCut };

/** A batched call's outcome as the worker reports it: fields rebuilt, nothing else kept. */
export function batchedCallOutcome(o: unknown, storedError: (wire: unknown) => StoredError): BatchedCallOutcome {
  const c = (o ?? {}) as { ok?: unknown; value?: unknown; error?: unknown; code?: unknown };
  if (c.ok === true) return { ok: true, value: c.value };
  return { ok: false, error: storedError(c.error), ...(c.code === "WORKER_CRASHED" || c.code === "TIMEOUT" ? { code: c.code } : {}) };
}
