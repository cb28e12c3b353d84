// Notices, in a child runtime, the moments user code may start writing to stdout or stderr, so a job
// call that prints nothing needs no output markers (four pipe writes in the child and as many reads
// in the parent: about half of what a short call costs). Watched: the streams' own write (console
// and process.stdout/stderr), fs writes to file descriptors 1 and 2, and the start of a subprocess,
// which may inherit them. Output that takes none of these ways (a native addon writing to fd 1) is
// attributed to a call only when the call also printed in a watched way; otherwise it is the
// worker's, like output between calls.
import childProcess from "node:child_process";
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";

type Write = typeof process.stdout.write;

/** The streams' original write functions: for markers, which must not count as user output. */
export interface RawWriters {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const STD_FDS = new Set([1, 2]);
const SUBPROCESS_STARTS = ["spawn", "spawnSync", "exec", "execSync", "execFile", "execFileSync", "fork"] as const;

/** Call `onOutput` before each watched write or subprocess start; returns the unwatched writers. */
export function watchOutput(onOutput: () => void): RawWriters {
  const raw = { stdout: process.stdout.write.bind(process.stdout), stderr: process.stderr.write.bind(process.stderr) };
  for (const name of ["stdout", "stderr"] as const) process[name].write = watched(process[name].write as never, onOutput) as Write;
  const fsAny = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ["writeSync", "write", "writev", "writevSync"] as const) {
    const original = fsAny[name];
    if (typeof original === "function") fsAny[name] = watched(original, (fd) => typeof fd === "number" && STD_FDS.has(fd) && onOutput());
  }
  const cpAny = childProcess as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of SUBPROCESS_STARTS) cpAny[name] = watched(cpAny[name]!, onOutput);
  // ESM `import { execSync } from "node:child_process"` (and fs) see the watched functions too.
  syncBuiltinESMExports();
  return { stdout: (text) => void raw.stdout(text), stderr: (text) => void raw.stderr(text) };
}

/**
 * `original` with `before(first argument)` called first; it keeps the function's own properties and
 * symbols (util.promisify reads `exec`'s and `fs.write`'s custom forms from them).
 */
function watched(original: (...args: unknown[]) => unknown, before: (first: unknown) => unknown): (...args: unknown[]) => unknown {
  const fn = function (this: unknown, ...args: unknown[]) {
    before(args[0]);
    return original.apply(this, args);
  };
  for (const key of Reflect.ownKeys(original)) {
    if (key === "length" || key === "name" || key === "prototype") continue;
    Object.defineProperty(fn, key, Object.getOwnPropertyDescriptor(original, key)!);
  }
  return fn;
}
