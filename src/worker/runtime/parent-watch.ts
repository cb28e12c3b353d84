// A user process must not outlive its worker. The IPC channel's "disconnect" ends it, but only when
// its event loop turns, and user code that spins never lets it: after a kill -9 (or the OOM killer)
// of an unsandboxed worker such a process would run on, orphaned, for good. A thread of its own
// notices the parent is gone (the process was handed to another parent) and ends the process.
// Sandboxed processes need none: bubblewrap dies with the worker and takes its PID namespace along.
import { Worker } from "node:worker_threads";

const WATCH = `
const { workerData } = require("node:worker_threads");
setInterval(() => {
  if (process.ppid !== workerData.ppid) process.kill(workerData.pid, "SIGKILL");
}, workerData.everyMs);
`;

/** Watch this process's parent from a thread; the process ends within `everyMs` of the parent's end. */
export function watchParent(everyMs = 500): void {
  const thread = new Worker(WATCH, { eval: true, workerData: { ppid: process.ppid, pid: process.pid, everyMs } });
  // It never keeps the process alive on its own.
  thread.unref();
}
