// CPU time of processes on this machine, from /proc (Linux): what a run costs, split by process.
import { readFileSync, readdirSync } from "node:fs";

const TICKS_PER_MS = 100 / 1000; // USER_HZ is 100 on Linux

/** user + system CPU of `pid` in ms; 0 when it is gone. */
export function cpuMsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_MS;
  } catch {
    return 0;
  }
}

/** Whether /proc gives process CPU times here. */
export function procAvailable(): boolean {
  return cpuMsOf(process.pid) > 0 || readdirSafe("/proc").length > 0;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function parentOf(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]);
  } catch {
    return -1;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return "";
  }
}

/** Processes whose parent is `pid` and whose command line contains `command` (this process's local worker, say). */
export function childrenOf(pid: number, command: string): number[] {
  return readdirSafe("/proc").flatMap((entry) => {
    const p = Number(entry);
    return p && parentOf(p) === pid && cmdline(p).includes(command) ? [p] : [];
  });
}

/** CPU ms so far by group: this process, the given workers, their descendants, Postgres and Redis servers. */
export function cpuByGroup(workerPids: readonly number[]): Record<"benchProcess" | "workers" | "children" | "postgres" | "redis", number> {
  const out = { benchProcess: cpuMsOf(process.pid), workers: 0, children: 0, postgres: 0, redis: 0 };
  const workers = new Set(workerPids);
  for (const entry of readdirSafe("/proc")) {
    const pid = Number(entry);
    if (!pid || pid === process.pid) continue;
    const cmd = cmdline(pid);
    if (cmd.startsWith("postgres")) out.postgres += cpuMsOf(pid);
    else if (cmd.startsWith("redis-server")) out.redis += cpuMsOf(pid);
    else if (workers.has(pid)) out.workers += cpuMsOf(pid);
    else {
      for (let p = parentOf(pid), depth = 0; p > 1 && depth < 8; p = parentOf(p), depth++) {
        if (workers.has(p)) {
          out.children += cpuMsOf(pid);
          break;
        }
      }
    }
  }
  return out;
}

/** `after − before`, each group divided by `n`. */
export function perItem<K extends string>(before: Record<K, number>, after: Record<K, number>, n: number): Record<K, number> {
  return Object.fromEntries(Object.keys(after).map((k) => [k, (after[k as K] - before[k as K]) / n])) as Record<K, number>;
}
