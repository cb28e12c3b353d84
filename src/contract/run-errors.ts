// Errors the worker's executor reports (as opposed to errors thrown by user code), and the crash
// error the store gives a run whose worker died. They travel as codec wire like user errors, so the
// run record and the RemoteError on the caller look the same.
import { toWire } from "../codec/index.ts";

/** The worker process died during a call (process.exit, a fatal signal, out of memory…). */
export const WORKER_CRASH = "WorkerCrashError";
/** The call ran past its timeout and its process was killed. */
export const RUN_TIMEOUT = "RunTimeoutError";
/** The call was cancelled (AbortSignal) and its process was killed. */
export const RUN_CANCELLED = "RunCancelledError";
/** The call never started on this worker (it waited behind a long call): its run went back to the queue. */
export const RUN_RELEASED = "RunReleasedError";

/**
 * Wire form of an executor error. No stack: it would point into the executor, not at anything
 * the user can act on; the message carries the useful detail (exit code, stderr tail).
 */
export function executorErrorWire(name: string, message: string, props?: Record<string, unknown>): unknown {
  const err = new Error(message);
  Object.defineProperty(err, "name", { value: name, enumerable: false, configurable: true, writable: true });
  delete (err as { stack?: string }).stack;
  if (props) Object.assign(err, props);
  return toWire(err);
}
