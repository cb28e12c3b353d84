// A user process must not outlive its worker. The IPC channel's "disconnect" ends it, but only when
// its event loop turns, and user code that spins never lets it: after a kill -9 (or the OOM killer)
// of an unsandboxed worker such a process would run on, orphaned, for good. A thread of its own
// notices the parent is gone (the process was handed to another parent) and ends the process.
// Sandboxed processes need none: bubblewrap dies with the worker and takes its PID namespace along.
import { Worker } from "node:worker_threads";

// When the parent is gone: the processes user code started that left this process's group (they
// carry its tag, see process-tag.ts), then this process. Synchronous: the process may be spinning.
// Bounded as killTagged is: every tagged process descends from this one, so older processes are
// never read, and an environment is read 64 KiB at a time, only until the entry is found.
const WATCH = `
const { workerData } = require("node:worker_threads");
const fs = require("node:fs");
const { pid, ppid, tag, everyMs } = workerData;
// Field 22 of /proc/<pid>/stat (clock ticks since boot), counted after comm's last ")".
function started(p) {
  try {
    const stat = fs.readFileSync("/proc/" + p + "/stat", "latin1");
    const start = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    return Number.isSafeInteger(start) ? start : undefined;
  } catch { return undefined; }
}
const since = started(pid) ?? 0;
const entry = Buffer.from("\\0" + tag + "\\0");
const chunk = Buffer.allocUnsafe(64 * 1024);
function carries(p) {
  let fd;
  try { fd = fs.openSync("/proc/" + p + "/environ", "r"); } catch { return false; }
  try {
    // The last bytes read, for an entry across chunks; a NUL at first, for one at the start.
    let carry = Buffer.from([0]);
    for (;;) {
      const n = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) return false;
      const read = chunk.subarray(0, n);
      const head = Buffer.concat([carry, read.subarray(0, entry.length - 1)]);
      if (head.includes(entry) || read.includes(entry)) return true;
      carry = Buffer.from((n >= entry.length - 1 ? read : head).subarray(1 - entry.length));
    }
  } catch { return false; } finally { fs.closeSync(fd); }
}
function killTagged() {
  const checked = new Map();
  for (let pass = 0; pass < 5; pass++) {
    let found = 0;
    for (const name of fs.readdirSync("/proc")) {
      const other = Number(name);
      if (!(other > 0) || other === pid) continue;
      const start = started(other);
      if (start !== undefined && (start < since || checked.get(other) === start)) continue;
      if (start !== undefined) checked.set(other, start);
      if (carries(other)) { found++; try { process.kill(other, "SIGKILL"); } catch {} }
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
 * after the processes carrying `tag` (NAME=value as in the environment). `parent` is the pid of the
 * process that started this one, as it said (WATCH_PARENT_ENV): one that died before this line ran
 * is noticed too (by then `process.ppid` names whoever took this process over).
 */
export function watchParent(tag: string | undefined, parent: number, everyMs = 500): void {
  const thread = new Worker(WATCH, { eval: true, workerData: { ppid: parent, pid: process.pid, tag, everyMs } });
  // It never keeps the process alive on its own.
  thread.unref();
}
