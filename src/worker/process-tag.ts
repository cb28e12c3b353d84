// Processes user code starts can leave their process group (a detached spawn calls setsid, a daemon
// double-forks), and a kill of the group then misses them. In the sandbox its PID namespace holds
// them; without it, every user process gets a random tag in its environment, which its descendants
// inherit whatever group or session they move to, and once the user process is gone the worker ends
// every process still carrying the tag. Only a descendant started with a wiped environment escapes.
//
// User code decides how many processes there are and how large their environments are (up to ~2 MB
// each), so the sweep must stay cheap whatever it does: processes that started before the tagged
// one are never read (they cannot have inherited a tag minted for it), environments are read a
// chunk at a time, a few at once, and only until the entry is found.
import { randomBytes } from "node:crypto";
import { closeSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import { open, readdir, readFile } from "node:fs/promises";
import { inLanes } from "../lib/lanes.ts";

export const PROCESS_TAG_ENV = "NBOX_PROCESS_TAG";

/** Environment files read at once by one sweep, and the bytes read at a time from each. */
const LANES = 8;
const CHUNK = 64 * 1024;
/** A tagged process may fork while a pass runs: look again until a pass finds none new, this often at most. */
const PASSES = 5;

export function newProcessTag(): string {
  return randomBytes(12).toString("hex");
}

/**
 * Matches the entry `NBOX_PROCESS_TAG=<tag>` in an environ file's bytes (NUL-separated NAME=value)
 * fed a chunk at a time: the whole entry only, first or after a NUL, also across chunk boundaries.
 */
export class TagMatcher {
  private readonly entry: Buffer;
  // The last bytes seen (one short of an entry); at first a NUL, so an entry at the start matches.
  private carry = Buffer.from([0]);

  constructor(tag: string) {
    this.entry = Buffer.from(`\0${PROCESS_TAG_ENV}=${tag}\0`);
  }

  /** Whether the entry is complete with `chunk` (which may be reused once this returns). */
  push(chunk: Buffer): boolean {
    const keep = this.entry.length - 1;
    const head = Buffer.concat([this.carry, chunk.subarray(0, keep)]);
    if (head.includes(this.entry) || chunk.includes(this.entry)) return true;
    this.carry = Buffer.from((chunk.length >= keep ? chunk : head).subarray(-keep));
    return false;
  }
}

/** Whether an environ file's bytes (NUL-separated NAME=value) carry `tag`. */
export function carriesTag(environ: Buffer, tag: string): boolean {
  return new TagMatcher(tag).push(environ);
}

/** Whether the environ file carries `tag`, read `chunk.length` bytes at a time until it is found. */
export async function fileCarriesTag(file: string, tag: string, chunk: Buffer): Promise<boolean> {
  const fh = await open(file, "r");
  try {
    const m = new TagMatcher(tag);
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) return false;
      if (m.push(chunk.subarray(0, bytesRead))) return true;
    }
  } finally {
    await fh.close();
  }
}

/** When a process started, in clock ticks since boot: field 22 of its /proc/<pid>/stat. */
export function parseStartTime(stat: string): number | undefined {
  // Field 2 (comm, in parentheses) may itself hold spaces and parentheses: count from its last ")".
  const close = stat.lastIndexOf(")");
  if (close < 0) return undefined;
  const start = Number(stat.slice(close + 2).split(" ")[19]);
  return Number.isSafeInteger(start) ? start : undefined;
}

/** The start time of process `pid` (clock ticks since boot), if there is a /proc to tell it. */
export function startTime(pid: number | undefined, proc = "/proc"): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return parseStartTime(readFileSync(`${proc}/${pid}/stat`, "latin1"));
  } catch {
    return undefined;
  }
}

export interface SweepOptions {
  /**
   * Start time (clock ticks since boot) of the process the tag was minted for: its descendants
   * started no earlier. Default: this process's own (every tag it minted is younger).
   */
  since?: number;
  /** Tests: another /proc, the pid to leave alone, and what reads an environ file. */
  proc?: string;
  self?: number;
  carries?: (file: string, tag: string, chunk: Buffer) => Promise<boolean>;
}

/** SIGKILL every process (other than this one) whose environment carries `tag`; how many were found. */
export async function killTagged(tag: string, o: SweepOptions = {}): Promise<number> {
  sweeping.set(tag, o);
  hookExit();
  try {
    // Read already, by pid and start time (a reused pid starts later): a process is read once.
    const checked = new Map<number, number>();
    let killed = 0;
    for (let pass = 0; pass < PASSES; pass++) {
      const found = await taggedPids(tag, o, checked);
      for (const pid of found) kill(pid);
      killed += found.length;
      if (found.length === 0) break;
    }
    return killed;
  } finally {
    sweeping.delete(tag);
  }
}

/** The processes carrying `tag` among those not in `checked` yet (which this adds them to). */
export async function taggedPids(tag: string, o: SweepOptions = {}, checked = new Map<number, number>()): Promise<number[]> {
  const proc = o.proc ?? "/proc";
  const self = o.self ?? process.pid;
  const since = o.since ?? ownStart();
  const carries = o.carries ?? fileCarriesTag;
  let entries: string[];
  try {
    entries = await readdir(proc);
  } catch {
    return []; // no /proc (not Linux): the group kill is all there is
  }
  const pids = entries.filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => pid !== self);
  const tagged: number[] = [];
  await inLanes(pids, LANES, () => {
    const chunk = Buffer.allocUnsafe(CHUNK);
    return async (pid) => {
      try {
        const start = parseStartTime(await readFile(`${proc}/${pid}/stat`, "latin1"));
        // Unknown start: read it (it cannot be shown older).
        if (start !== undefined && (start < since || checked.get(pid) === start)) return;
        if (start !== undefined) checked.set(pid, start);
        if (await carries(`${proc}/${pid}/environ`, tag, chunk)) tagged.push(pid);
      } catch {
        // gone, or another user's
      }
    };
  });
  return tagged;
}

// A sweep runs beside the exit it follows, not in its path (spawn-runtime.ts): one still running
// when this process exits (process.exit after a stop) is finished synchronously on the way out.
const sweeping = new Map<string, SweepOptions>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const [tag, o] of sweeping) killTaggedSync(tag, o.since);
  });
}

/** killTagged, blocking (same bounds, one environment at a time). */
export function killTaggedSync(tag: string, since = ownStart()): number {
  const checked = new Map<number, number>();
  const chunk = Buffer.allocUnsafe(CHUNK);
  let killed = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    let entries: string[];
    try {
      entries = readdirSync("/proc");
    } catch {
      return killed;
    }
    let found = 0;
    for (const name of entries) {
      const pid = Number(name);
      if (!(pid > 0) || pid === process.pid) continue;
      const start = startTime(pid);
      if (start !== undefined && (start < since || checked.get(pid) === start)) continue;
      if (start !== undefined) checked.set(pid, start);
      if (fileCarriesTagSync(`/proc/${pid}/environ`, tag, chunk)) {
        kill(pid);
        found++;
      }
    }
    killed += found;
    if (found === 0) break;
  }
  return killed;
}

function fileCarriesTagSync(file: string, tag: string, chunk: Buffer): boolean {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return false;
  }
  try {
    const m = new TagMatcher(tag);
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) return false;
      if (m.push(chunk.subarray(0, n))) return true;
    }
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

let own: number | undefined;
function ownStart(): number {
  return (own ??= startTime(process.pid) ?? 0);
}

function kill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}
