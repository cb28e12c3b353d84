// Processes user code starts can leave their process group (a detached spawn calls setsid, a daemon
// double-forks), and a kill of the group then misses them. In the sandbox its PID namespace holds
// them; without it, every user process gets a random tag in its environment, which its descendants
// inherit whatever group or session they move to, and once the user process is gone the worker ends
// every process still carrying the tag. Only a descendant started with a wiped environment escapes.
import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";

export const PROCESS_TAG_ENV = "NBOX_PROCESS_TAG";

export function newProcessTag(): string {
  return randomBytes(12).toString("hex");
}

/** Whether an environ file's bytes (NUL-separated NAME=value) carry `tag`. */
export function carriesTag(environ: Buffer, tag: string): boolean {
  const entry = `${PROCESS_TAG_ENV}=${tag}\0`;
  return environ.subarray(0, entry.length).toString() === entry || environ.includes(`\0${entry}`);
}

/** SIGKILL every process (other than this one) whose environment carries `tag`; how many were found. */
export async function killTagged(tag: string): Promise<number> {
  let killed = 0;
  // A tagged process may fork while the first pass runs: look again until a pass finds none.
  for (let pass = 0; pass < 5; pass++) {
    const found = await taggedPids(tag);
    for (const pid of found) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    killed += found.length;
    if (found.length === 0) break;
  }
  return killed;
}

async function taggedPids(tag: string): Promise<number[]> {
  let entries: string[];
  try {
    entries = await readdir("/proc");
  } catch {
    return []; // no /proc (not Linux): the group kill is all there is
  }
  const pids = entries.filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => pid !== process.pid);
  const tagged = await Promise.all(
    pids.map(async (pid) => {
      try {
        return carriesTag(await readFile(`/proc/${pid}/environ`), tag) ? pid : null;
      } catch {
        return null; // gone, or another user's
      }
    }),
  );
  return tagged.filter((pid): pid is number => pid !== null);
}
