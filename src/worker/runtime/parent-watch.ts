// A user process must not outlive its worker. The IPC channel's "disconnect" ends it, but only when
// its event loop turns, and user code that spins never lets it: after a kill -9 (or the OOM killer)
// of an unsandboxed worker such a process would run on, orphaned, for good. A thread of its own
// notices the parent is gone (the process was handed to another parent) and ends the process.
// Sandboxed processes need none: bubblewrap dies with the worker and takes its PID namespace along.
import { Worker } from "node:worker_threads";

// When the parent is gone: the processes user code started that left this process's group (they
// carry its tag, see process-tag.ts), then this process. Synchronous: the process may be spinning.
const WATCH = `
const { workerData } = require("node:worker_threads");
const fs = require("node:fs");
const { pid, ppid, tag, everyMs } = workerData;
function killTagged() {
  const entry = Buffer.from(tag + "\\0");
  for (let pass = 0; pass < 5; pass++) {
    let found = 0;
    for (const name of fs.readdirSync("/proc")) {
      const other = Number(name);
      if (!(other > 0) || other === pid) continue;
      let env;
      try { env = fs.readFileSync("/proc/" + other + "/environ"); } catch { continue; }
      const at = env.indexOf(entry);
      if (at === 0 || (at > 0 && env[at - 1] === 0)) { found++; try { process.kill(other, "SIGKILL"); } catch {} }
    }
    if (found === 0) return;
  }
}
setInterval(() => {
  if (process.ppid === ppid) return;
  if (tag) try { killTagged(); } catch {}
  process.kill(pid, "SIGKILL");
}, everyMs);
`;

/**
 * Watch this process's parent from a thread; the process ends within `everyMs` of the parent's end,
 * after the processes carrying `tag` (NAME=value as in the environment).
 */
export function watchParent(tag: string | undefined, everyMs = 500): void {
  const thread = new Worker(WATCH, { eval: true, workerData: { ppid: process.ppid, pid: process.pid, tag, everyMs } });
  // It never keeps the process alive on its own.
  thread.unref();
}
