// Notices, in a job child, the moments user code may start writing to stdout or stderr, so a call that
// prints nothing needs no output markers (four pipe writes in the child and as many reads in the
// parent: about half of what a short call costs). Watched: the streams' own write (console,
// process.stdout/stderr), fs writes to file descriptors 1 and 2 or to /dev/stdout-like paths, and the
// start of a subprocess, which may inherit them. Some ways to the descriptors cannot be watched call
// by call: a worker thread (its own fs, e.g. a logger's transport), a native addon, a stream opened on
// /dev/stdout. Once user code takes one of those, the process frames every call again.
import childProcess from "node:child_process";
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import workerThreads from "node:worker_threads";

type AnyFn = (...args: unknown[]) => unknown;

export interface OutputHooks {
  /** User code is about to write to stdout/stderr (or start a subprocess that may). */
  output(): void;
  /** User code took a way to stdout/stderr that cannot be watched: frame every call from now on. */
  unwatchable(): void;
}

/** The streams' original write functions, for markers, which must not count as user output. */
export const rawWriters = {
  stdout: ((w) => (text: string) => void w(text))(process.stdout.write.bind(process.stdout)),
  stderr: ((w) => (text: string) => void w(text))(process.stderr.write.bind(process.stderr)),
};

const STD_FDS = new Set([1, 2]);
const STD_PATH = /^\/(dev\/(stdout|stderr|fd\/[12])|proc\/self\/fd\/[12])$/;
const SUBPROCESS_STARTS = ["spawn", "spawnSync", "exec", "execSync", "execFile", "execFileSync", "fork"];
/** fs functions whose first argument is a descriptor or path that is written to at once. */
const FS_WRITES = ["write", "writeSync", "writev", "writevSync", "writeFile", "writeFileSync", "appendFile", "appendFileSync"];
/** fs functions that open a descriptor or stream written to later. */
const FS_OPENS = ["open", "openSync", "createWriteStream"];

const isStdFd = (x: unknown) => typeof x === "number" && STD_FDS.has(x);
const isStdPath = (x: unknown) => (typeof x === "string" || x instanceof URL || Buffer.isBuffer(x)) && STD_PATH.test(x instanceof URL ? x.pathname : String(x));

/** Install the watches (once, before user code loads). */
export function watchOutput(hooks: OutputHooks): void {
  for (const name of ["stdout", "stderr"] as const) process[name].write = watched(process[name].write as never, hooks.output) as never;
  const fsFns = fs as unknown as Record<string, AnyFn>;
  const fsPromises = fs.promises as unknown as Record<string, AnyFn>;
  for (const [where, names] of [[fsFns, FS_WRITES], [fsPromises, ["writeFile", "appendFile"]]] as const) {
    for (const name of names) {
      const original = where[name];
      if (typeof original === "function") where[name] = watched(original, (target) => (isStdFd(target) || isStdPath(target)) && hooks.output());
    }
  }
  for (const [where, names] of [[fsFns, FS_OPENS], [fsPromises, ["open"]]] as const) {
    for (const name of names) {
      const original = where[name];
      if (typeof original === "function") where[name] = watched(original, (target) => isStdPath(target) && hooks.unwatchable());
    }
  }
  const cp = childProcess as unknown as Record<string, AnyFn>;
  for (const name of SUBPROCESS_STARTS) cp[name] = watched(cp[name]!, hooks.output);
  const OriginalWorker = workerThreads.Worker;
  const Worker = class Worker extends OriginalWorker {
    constructor(...args: ConstructorParameters<typeof OriginalWorker>) {
      hooks.unwatchable();
      super(...args);
    }
  };
  (workerThreads as { Worker: typeof OriginalWorker }).Worker = Worker;
  process.dlopen = watched(process.dlopen as AnyFn, hooks.unwatchable) as typeof process.dlopen;
  // ESM `import { execSync } from "node:child_process"` (and fs, worker_threads) see the watched ones too.
  syncBuiltinESMExports();
}

/**
 * `original` with `before(first argument)` called first. It keeps the function's name, length, own
 * properties and symbols (util.promisify reads `exec`'s and `fs.write`'s custom forms from them).
 */
function watched(original: AnyFn, before: (first: unknown) => unknown): AnyFn {
  const fn = function (this: unknown, ...args: unknown[]) {
    before(args[0]);
    return original.apply(this, args);
  };
  for (const key of Reflect.ownKeys(original)) {
    if (key === "prototype") continue;
    Object.defineProperty(fn, key, Object.getOwnPropertyDescriptor(original, key)!);
  }
  return fn;
}
