// Job executor: worker child processes per deployment version, one call at a time each
// (one child process per worker slot, reused warm for the same version).
export { executeCall, type ExecuteCallOptions, type CallOutcome, type CallFailureReason, type CallInfo } from "./execute-call.ts";
export { ProcessPool, PoolClosedError, type ProcessPoolOptions, type AcquireOptions, type PoolStats } from "./process-pool.ts";
export {
  WorkerProcess,
  type SpawnInfo,
  type CallHandlers,
  type LoadOutcome,
  type RunOutcome,
  type ExitInfo,
  type WorkerState,
  type LogStream,
} from "./worker-process.ts";
export { LineSplitter, MAX_LINE_CHARS } from "./line-splitter.ts";
export { WORKER_CRASH, RUN_TIMEOUT, RUN_CANCELLED, executorErrorWire } from "./errors.ts";
export type { ParentMessage, ChildMessage, LoadMessage, RunMessage, ReadyMessage, LoadFailedMessage, SpanMessage, ResultMessage } from "./protocol.ts";
