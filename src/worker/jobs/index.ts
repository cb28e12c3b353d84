// Job execution: child runtimes in job mode per deployment version, one call at a time each
// (one process per worker slot, reused warm for the same version).
export { executeCall, type ExecuteCallOptions, type CallOutcome, type CallFailureReason, type CallInfo } from "./execute-call.ts";
export { ProcessPool, PoolClosedError, type ProcessPoolOptions, type AcquireOptions, type PoolStats } from "./process-pool.ts";
export { WorkerProcess, type SpawnInfo, type CallHandlers, type LoadOutcome, type RunOutcome, type ExitInfo, type WorkerState, type LogStream } from "./worker-process.ts";
export { LineSplitter, MAX_LINE_CHARS } from "../runtime/line-splitter.ts";
export { WORKER_CRASH, RUN_TIMEOUT, RUN_CANCELLED, executorErrorWire } from "../../contract/run-errors.ts";
