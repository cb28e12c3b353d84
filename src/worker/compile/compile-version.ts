// A version's TypeScript compiled once, when the worker prepares the version, so its processes start
// without a loader. TypeScript needs tsx's hooks, and on Node 20 hooks run on a thread of their own
// that every user process starts and feeds each module through: about a fifth of a second of every
// cold start. Each module of the entry's graph becomes plain JavaScript beside its source, in the
// module system Node gives it (`ops.ts` → `ops.nbox.mjs` in an ES package, `ops.nbox.cjs` in a
// CommonJS one, with a source map back to it), so `import.meta.url` and `__dirname` still name the
// module's own folder and stack traces still name the .ts files. A graph plain Node could not run
// the same way keeps the loader: the record says why.
//
// The compile reads text the user wrote, so it runs in a process of its own (compile-main.ts), under
// the sandbox user processes get when the worker has one (it sees the version's folder and nbox's
// own files, nothing else), with a time limit: whatever the compiler does ends that process only.
import { spawn, type SpawnOptionsWithStdioTuple } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isInside } from "../../lib/is-inside.ts";
import { writeFileAtomic } from "../../lib/write-file-atomic.ts";
import { bwrapArgs } from "../sandbox.ts";
import { WATCH_PARENT_ENV, watchThisParent } from "../runtime/protocol.ts";
import { dependencyTrees, killGroup, type RuntimeLaunch } from "../spawn-runtime.ts";

/** Written in the version's folder once its modules are compiled (or found not to be compilable). */
export const COMPILE_RECORD = ".nbox-compiled.json";

export type CompileRecord = { entry: string; compiled: string } | { entry: string; compiled: null; why: string };

/** The sandbox the compile runs in: user processes' own (the installed dependencies shown read-only). */
export type CompileSandbox = NonNullable<RuntimeLaunch["sandbox"]>;

export interface CompileOptions {
  sandbox?: CompileSandbox;
  /** How long the compile may take before it is ended and the version keeps the loader. */
  timeoutMs?: number;
}

const COMPILE_TIMEOUT_MS = 60_000;
// Enough for any real graph's compile; a source built to exhaust it ends the compile only.
const HEAP_MB = 512;
// The compiler is a process of its own (esbuild's service): the heap limit does not reach it, an
// address-space limit on both does. A real graph compiles in a fraction of it.
const ADDRESS_SPACE_KB = 2 * 1024 * 1024;
const MAX_OUTPUT = 64 * 1024;
const MAX_WHY = 1000;

// The compile's entry is JavaScript in nbox's package (dist/): run from nbox's sources (its own
// tests, after `npm run build`), the same built entry is used, so the compile resolves packages as
// plain Node does. Only without a build does it run from the sources through the loader, which then
// reads nbox's tsconfig.json, never the bundle's (whose `paths` would send nbox's own imports to the
// bundle's code). Either way the process runs in nbox's folder, not the bundle's.
const NBOX_PACKAGE = fileURLToPath(new URL("../../..", import.meta.url));
const BUILT_MAIN = [fileURLToPath(new URL("./compile-main.js", import.meta.url)), join(NBOX_PACKAGE, "dist/worker/compile/compile-main.js")].find((f) => existsSync(f));
const MAIN = BUILT_MAIN ? [BUILT_MAIN] : ["--import", import.meta.resolve("tsx"), fileURLToPath(new URL("./compile-main.ts", import.meta.url))];

/**
 * Compile the graph of `entry` (relative to `dir`) into plain JavaScript beside its sources and
 * record the outcome in `dir/.nbox-compiled.json`. Never throws: anything that cannot be compiled
 * (the user's code, or the compile's own failure) is recorded as a reason to keep the loader.
 */
export async function compileVersion(dir: string, entry: string, o: CompileOptions = {}): Promise<CompileRecord> {
  const record = join(dir, COMPILE_RECORD);
  // Whatever the bundle put there (even a folder) gives way to the worker's own record.
  rmSync(record, { recursive: true, force: true });
  const outcome = await runCompile(resolve(dir), entry, o).catch((err: Error) => ({ why: `the compile could not run: ${err.message}` }));
  const result: CompileRecord = "compiled" in outcome ? { entry, compiled: outcome.compiled } : { entry, compiled: null, why: oneLine(outcome.why) };
  writeFileAtomic(record, JSON.stringify(result), { durable: false });
  return result;
}

function runCompile(dir: string, entry: string, o: CompileOptions): Promise<{ compiled: string } | { why: string }> {
  const node = ["/bin/sh", "-c", `ulimit -v ${ADDRESS_SPACE_KB} && exec "$@"`, "nbox-compile", process.execPath, `--max-old-space-size=${HEAP_MB}`, "--experimental-import-meta-resolve", "--no-warnings", ...MAIN, dir, entry];
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
  if (!BUILT_MAIN) env.TSX_TSCONFIG_PATH = join(NBOX_PACKAGE, "tsconfig.json");
  const sb = o.sandbox;
  // bubblewrap dies with the worker and takes the sandbox along; unsandboxed, the compile watches for that.
  if (!sb) env[WATCH_PARENT_ENV] = watchThisParent();
  const options: SpawnOptionsWithStdioTuple<"ignore", "pipe", "ignore"> = { env, stdio: ["ignore", "pipe", "ignore"], detached: true };
  const child = sb
    ? spawn(sb.bwrap, [...bwrapArgs({ trees: sb.trees, hide: sb.hide, readOnly: dependencyTrees(dir, sb.depsRoot), readWrite: [dir], cwd: NBOX_PACKAGE }), ...node], options)
    : spawn(node[0]!, node.slice(1), { ...options, cwd: NBOX_PACKAGE });
  return new Promise((done, fail) => {
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      if (out.length < MAX_OUTPUT) out += chunk;
    });
    const timer = setTimeout(() => killGroup(child.pid), o.timeoutMs ?? COMPILE_TIMEOUT_MS);
    child.once("error", (err) => {
      clearTimeout(timer);
      fail(err);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      killGroup(child.pid);
      const parsed = parseOutcome(out, dir);
      if (parsed) return done(parsed);
      done({ why: signal === "SIGKILL" && !code ? "the compile was ended: it ran out of time or memory" : `the compile process failed (${signal ?? `exit code ${code}`})` });
    });
  });
}

/** The compile's printed outcome, if it is one the worker can trust: a compiled entry inside the version. */
function parseOutcome(out: string, dir: string): { compiled: string } | { why: string } | undefined {
  let v: { compiled?: unknown; why?: unknown } | null;
  try {
    v = JSON.parse(out) as typeof v;
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  if (typeof v.why === "string") return { why: v.why };
  if (typeof v.compiled !== "string") return undefined;
  const file = resolve(dir, v.compiled);
  return isInside(file, dir) && file !== dir ? { compiled: v.compiled } : undefined;
}

/** A reason fit for one log line: it may quote the bundle's own text (an import's name). */
function oneLine(why: string): string {
  return why.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, " ").slice(0, MAX_WHY);
}

/**
 * How module `file` of the version in `bundleDir` is loaded: `file`, its compiled form, when the
 * version was compiled and `file` is its entry; otherwise through the loader, with `why` when the
 * version's compile said (none for a version prepared before compiling existed, or not by a worker).
 */
export function compiledEntry(bundleDir: string, file: string): { file: string } | { file?: undefined; why?: string } {
  let record: { entry?: unknown; compiled?: unknown; why?: unknown } | null;
  try {
    record = JSON.parse(readFileSync(join(bundleDir, COMPILE_RECORD), "utf8")) as typeof record;
  } catch {
    return {};
  }
  // Written by the worker, but read from a folder a bundle filled: anything not of its shape is no record.
  if (typeof record !== "object" || record === null || typeof record.entry !== "string") return {};
  if (resolve(bundleDir, record.entry) !== resolve(bundleDir, file)) return {};
  if (record.compiled === null) return typeof record.why === "string" ? { why: record.why } : {};
  if (typeof record.compiled !== "string") return {};
  const compiled = resolve(bundleDir, String(record.compiled));
  return isInside(compiled, resolve(bundleDir)) && compiled !== resolve(bundleDir) && existsSync(compiled) ? { file: compiled } : {};
}
