// A version's TypeScript compiled once, when the worker prepares the version, so its processes start
// without a loader. TypeScript needs tsx's hooks, and on Node 20 hooks run on a thread of their own
// that every user process starts and feeds each module through: about a fifth of a second of every
// cold start. Each module of the entry's graph becomes plain JavaScript beside its source, in the
// module system Node gives it (`ops.ts` → `ops.nbox.mjs` in an ES package, `ops.nbox.cjs` in a
// CommonJS one, with a source map back to it), so `import.meta.url` and `__dirname` still name the
// module's own folder and stack traces still name the .ts files. A graph plain Node could not run
// the same way (a JSON import, an `import()` of a computed path, `import.meta` in CommonJS) keeps
// the loader: the record says why.
import { existsSync, lstatSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { isInside } from "../lib/is-inside.ts";
import type { Message, Metafile, OutputFile, Plugin } from "esbuild";
import { writeFileAtomic } from "../lib/write-file-atomic.ts";

/** Written in the version's folder once its modules are compiled (or found not to be compilable). */
export const COMPILE_RECORD = ".nbox-compiled.json";
/** Suffix of a module's compiled form, beside its source. */
const COMPILED_SUFFIX = ".nbox";

export type CompileRecord = { entry: string; compiled: string } | { entry: string; compiled: null; why: string };

const OUTSIDE = "outside the bundle";
const MISSING_OR_OUTSIDE = "the graph imports a module that is missing or outside the bundle";
const CODE_EXTS = new Set([".ts", ".tsx", ".mts", ".cts", ".js", ".mjs", ".cjs", ".jsx"]);

type Format = "esm" | "cjs";
const COMPILED_EXT: Record<Format, string> = { esm: ".mjs", cjs: ".cjs" };
/** Compiler warnings that say a module would not run as plain JavaScript the way the loader runs it. */
const KEEPS_LOADER = new Set(["unsupported-require-call", "unsupported-dynamic-import", "empty-import-meta", "commonjs-variable-in-esm"]);

/** What keeps a graph on the loader. */
class KeepLoader extends Error {}

/**
 * Compile the graph of `entry` (relative to `dir`) into plain JavaScript beside its sources and
 * record the outcome in `dir/.nbox-compiled.json`. Never throws for the user's code: anything that
 * cannot be compiled is recorded as a reason to keep the loader.
 */
export async function compileVersion(dir: string, entry: string): Promise<CompileRecord> {
  let record: CompileRecord;
  try {
    record = { entry, compiled: await compileGraph(dir, entry) };
  } catch (err) {
    record = { entry, compiled: null, why: err instanceof KeepLoader ? err.message : `the compiler failed: ${firstError(err)}` };
  }
  writeFileAtomic(join(dir, COMPILE_RECORD), JSON.stringify(record), { durable: false });
  return record;
}

/** The compiler's first error, where it is: `ops.ts:3:7: Expected ")" but found ";"`. */
function firstError(err: unknown): string {
  const first = (err as { errors?: Message[] }).errors?.[0];
  if (!first) return (err as Error).message.split("\n")[0]!;
  // One answer whether a file outside exists or not: the record must not tell the worker's files apart.
  if (first.text === OUTSIDE || first.text.startsWith("Could not resolve")) return MISSING_OR_OUTSIDE;
  return describe(first);
}

/** A compiler message, only if it is about the bundle's own files: one on any other file could quote it. */
function describe(m: Message): string {
  const file = m.location?.file;
  if (!file || file.startsWith("..") || isAbsolute(file)) return "it failed on a file outside the bundle";
  return `${file}:${m.location!.line}:${m.location!.column}: ${m.text}`;
}

function keepLoaderOnWarnings(warnings: readonly Message[]): void {
  const w = warnings.find((m) => KEEPS_LOADER.has(m.id));
  if (w) throw new KeepLoader(describe(w));
}

/**
 * How module `file` of the version in `bundleDir` is loaded: `file`, its compiled form, when the
 * version was compiled and `file` is its entry; otherwise through the loader, with `why` when the
 * version's compile said (none for a version prepared before compiling existed, or not by a worker).
 */
export function compiledEntry(bundleDir: string, file: string): { file: string } | { file?: undefined; why?: string } {
  let record: CompileRecord;
  try {
    record = JSON.parse(readFileSync(join(bundleDir, COMPILE_RECORD), "utf8")) as CompileRecord;
  } catch {
    return {};
  }
  if (resolve(bundleDir, record.entry) !== resolve(bundleDir, file)) return {};
  if (record.compiled === null) return { why: String(record.why) };
  const compiled = resolve(bundleDir, String(record.compiled));
  return isInside(compiled, resolve(bundleDir)) && compiled !== resolve(bundleDir) && existsSync(compiled) ? { file: compiled } : {};
}

async function compileGraph(dir: string, entry: string): Promise<string> {
  const esbuild = await import("esbuild");
  const common = { absWorkingDir: dir, platform: "node", logLevel: "silent", write: false, ...tsconfigOf(dir) } as const;
  // First the graph: which modules the entry reaches and how each import was resolved.
  const graph = await esbuild.build({ ...common, format: "esm", entryPoints: [entry], bundle: true, metafile: true, packages: "external", plugins: [insideOnly(dir)] });
  keepLoaderOnWarnings(graph.warnings);
  const formats = moduleFormats(dir, graph.metafile);
  const compiledName = (input: string) => input.slice(0, -extname(input).length) + COMPILED_SUFFIX + COMPILED_EXT[formats.get(input)!];

  // Then each module on its own, its imports of other modules pointed at their compiled forms.
  const resolved = new Map<string, { path: string; external: boolean }>();
  for (const [input, meta] of Object.entries(graph.metafile.inputs)) {
    for (const imp of meta.imports) resolved.set(`${input}\0${imp.original ?? imp.path}`, { path: imp.path, external: imp.external ?? false });
  }
  const rewrite: Plugin = {
    name: "nbox-compiled-imports",
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind === "entry-point") return undefined;
        const importer = relative(dir, args.importer).split(sep).join("/");
        const target = resolved.get(`${importer}\0${args.path}`);
        if (!target) throw new KeepLoader(`${importer} imports "${args.path}" in a way only the loader resolves`);
        if (target.external) return { path: args.path, external: true };
        let spec = relative(dirname(args.importer), join(dir, compiledName(target.path))).split(sep).join("/");
        if (!spec.startsWith(".")) spec = `./${spec}`;
        return { path: spec, external: true };
      });
    },
  };
  const outputs: OutputFile[] = [];
  for (const format of ["esm", "cjs"] as const) {
    const entryPoints = [...formats].flatMap(([input, f]) => (f === format ? [input] : []));
    if (entryPoints.length === 0) continue;
    const out = await esbuild.build({
      ...common,
      format,
      entryPoints,
      bundle: true,
      outdir: dir,
      outbase: dir,
      entryNames: `[dir]/[name]${COMPILED_SUFFIX}`,
      outExtension: { ".js": COMPILED_EXT[format] },
      // What tsx does to each module: the running Node as target, names kept, whitespace collapsed.
      target: `node${process.versions.node}`,
      keepNames: true,
      minifyWhitespace: true,
      sourcemap: "linked",
      sourcesContent: false,
      plugins: [rewrite],
    });
    keepLoaderOnWarnings(out.warnings);
    outputs.push(...out.outputFiles);
  }
  for (const f of outputs) {
    if (!f.path.endsWith(".map") && /\bimport\s*\(\s*(?!["'])/.test(f.text)) {
      throw new KeepLoader(`${relative(dir, f.path).replace(/\.nbox\.[cm]js$/, "")} imports a module by a computed name, which only the loader can compile`);
    }
    // lstat, not exists: a link (even one pointing nowhere) is a name taken, never followed.
    if (taken(f.path)) throw new KeepLoader(`the bundle already has a file ${relative(dir, f.path)}`);
  }
  // Created, never opened through a link that appeared meanwhile (O_EXCL).
  for (const f of outputs) writeFileSync(f.path, f.contents, { flag: "wx" });
  return compiledName(entry);
}

/**
 * The compiler runs in the worker, outside the sandbox user code gets: it reads nothing outside the
 * version's folder. A package.json at its root ends the compiler's search for one upwards, the root
 * tsconfig.json is the only one read (the one the loader would use), and a module outside the
 * folder is refused before it is read.
 */
function tsconfigOf(dir: string): { tsconfig: string } | { tsconfigRaw: object } {
  if (!existsSync(join(dir, "package.json"))) throw new KeepLoader("the bundle has no package.json");
  const tsconfig = join(dir, "tsconfig.json");
  for (const f of [join(dir, "package.json"), tsconfig]) if (taken(f) && lstatSync(f).isSymbolicLink()) throw new KeepLoader(`${relative(dir, f)} is a link`);
  if (!existsSync(tsconfig)) return { tsconfigRaw: {} };
  if (/"extends"\s*:/.test(readFileSync(tsconfig, "utf8"))) throw new KeepLoader("tsconfig.json extends another file");
  return { tsconfig };
}

function insideOnly(dir: string): Plugin {
  const root = realpathSync(dir);
  return {
    name: "nbox-inside-only",
    setup(build) {
      build.onLoad({ filter: /.*/ }, (args) => (isInside(args.path, root) || isInside(args.path, dir) ? undefined : { errors: [{ text: OUTSIDE }] }));
    },
  };
}

/** Each module of the graph (all inside `dir`) with the module system Node loads it as; else why not. */
function moduleFormats(dir: string, meta: Metafile): Map<string, Format> {
  const formats = new Map<string, Format>();
  for (const [input, m] of Object.entries(meta.inputs)) {
    if (input.startsWith("..") || input.includes("node_modules/") || input.includes(":")) throw new KeepLoader(`the graph reaches ${input}, outside the bundle's own modules`);
    if (!CODE_EXTS.has(extname(input))) throw new KeepLoader(`${input} is not a module plain Node loads without the loader`);
    const format = formatOf(dir, input);
    // `module.exports` in a file Node loads as an ES module fails there; the compiler would wrap it.
    if (format === "esm" && m.format === "cjs") throw new KeepLoader(`${input} uses CommonJS in an ES module`);
    for (const imp of m.imports) {
      if (format === "esm" && (imp.kind === "require-call" || imp.kind === "require-resolve")) throw new KeepLoader(`${input} requires "${imp.original ?? imp.path}" in an ES module`);
      // `import("./" + name + ".ts")`: the compiler would bundle every match; the loader compiles the one asked for.
      if (imp.path.includes("*")) throw new KeepLoader(`${input} imports a module by a computed name`);
    }
    formats.set(input, format);
  }
  return formats;
}

function taken(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** How Node loads `input`: by its extension, else as its nearest package.json's `"type"` says. */
function formatOf(dir: string, input: string): Format {
  const ext = extname(input);
  if (ext === ".mts" || ext === ".mjs") return "esm";
  if (ext === ".cts" || ext === ".cjs") return "cjs";
  for (let d = dirname(join(dir, input)); ; d = dirname(d)) {
    const pkg = join(d, "package.json");
    if (existsSync(pkg)) {
      let type: unknown;
      try {
        type = (JSON.parse(readFileSync(pkg, "utf8")) as { type?: unknown }).type;
      } catch {
        throw new KeepLoader(`${relative(dir, pkg)} is not valid JSON`);
      }
      return type === "module" ? "esm" : "cjs";
    }
    if (d === dir || dirname(d) === d) return "cjs";
  }
}
