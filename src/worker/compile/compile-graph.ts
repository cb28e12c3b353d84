// The compile itself, run in a process of its own (compile-main.ts): each module of the entry's
// graph goes through the compiler exactly as the loader would put it through (esbuild's transform
// with tsx's options, module by module, the tsconfig.json's options where it includes the file),
// then its imports of the bundle's own modules are pointed at their compiled forms. The compiler
// never reads a file: this code reads the sources, inside the version's folder only.
import { lstatSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from "node:path";
import type { Message, TransformOptions } from "esbuild";
import { packageTypeAt } from "../../lib/package-type.ts";
import { applyEdits, type TextEdit } from "./edit-compiled.ts";
import { KeepLoader } from "./keep-loader.ts";
import { DependencyCheck } from "./dependency-entry.ts";
import { moduleNames, parseModule } from "./module-imports.ts";
import { CODE_EXTENSIONS, findModule, kindOf } from "./resolve-in-bundle.ts";
import { tsconfigSettings, type TsconfigSettings } from "./tsconfig-settings.ts";

/** Suffix of a module's compiled form, beside its source. */
const COMPILED_SUFFIX = ".nbox";
/** More modules than this in one graph is not a service's code: the loader handles it. */
const MAX_MODULES = 5000;
/** A module larger than this, or a graph, is not a service's own code: the loader handles it. */
const MAX_MODULE_BYTES = 4 * 1024 * 1024;
const MAX_GRAPH_BYTES = 64 * 1024 * 1024;
/**
 * What the loader adds after every `import()`: a CommonJS module's exports compiled from ES syntax
 * (`__esModule`) come back as that module's namespace, not wrapped in `default` (tsx's own code).
 */
const DYNAMIC_IMPORT_INTEROP = '.then((m)=>{const d=m["default"];return d&&typeof d==="object"&&"__esModule"in d?d:m})';
/** Names the compiled text uses for the source's own `import.meta.url`/`.filename`. */
const META_NAMES = { url: "__nbox_import_meta_url", filename: "__nbox_import_meta_filename" } as const;
/** Deeper nesting than this is no program a person wrote; the compiler's stack would grow with it. */
const MAX_NESTING = 1000;
/** Compiler warnings that say a module would not run as plain JavaScript the way the loader runs it. */
const KEEPS_LOADER = new Set(["unsupported-require-call", "unsupported-dynamic-import", "empty-import-meta", "commonjs-variable-in-esm"]);

type Format = "esm" | "cjs";
const COMPILED_EXT: Record<Format, string> = { esm: ".mjs", cjs: ".cjs" };

interface Compiled {
  out: string;
  code: string;
  /** None for JavaScript kept as it was (its lines are the source's). */
  map: string | undefined;
}

/** Compile the graph of `entry` (relative to `dir`); returns the compiled entry, relative to `dir`. */
export async function compileGraph(dirIn: string, entry: string, target: string): Promise<string> {
  const dir = resolve(dirIn);
  if (kindOf(dir, join(dir, "package.json")) !== "file") throw new KeepLoader("the bundle has no package.json");
  const tsconfig = tsconfigSettings(dir);
  const self = selfReference(dir);
  const deps = new DependencyCheck();
  const esbuild = await import("esbuild");
  const formatOf = moduleFormats(dir);
  const compiledName = (file: string) => file.slice(0, file.length - extname(file).length) + COMPILED_SUFFIX + COMPILED_EXT[formatOf(file)];

  const entryFile = resolve(dir, entry);
  if (isAbsolute(entry) || kindOf(dir, entryFile) !== "file" || !CODE_EXTENSIONS.includes(extname(entryFile))) throw new KeepLoader(`the entry ${entry} is not a module file of the bundle`);
  const queue = [entryFile];
  const compiled = new Map<string, Compiled>();
  let graphBytes = 0;
  const outputs = new Map<string, string>();
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    if (compiled.has(file)) continue;
    if (compiled.size >= MAX_MODULES) throw new KeepLoader(`the graph has more than ${MAX_MODULES} modules`);
    const name = relative(dir, file);
    const format = formatOf(file);
    const out = compiledName(file);
    if (outputs.has(out)) throw new KeepLoader(`${name} and ${outputs.get(out)} would both compile to ${relative(dir, out)}`);
    outputs.set(out, name);
    const text = readFileSync(file, "utf8");
    graphBytes += text.length;
    if (text.length > MAX_MODULE_BYTES) throw new KeepLoader(`${name} is larger than ${MAX_MODULE_BYTES / 1024 / 1024} MB`);
    if (graphBytes > MAX_GRAPH_BYTES) throw new KeepLoader(`the graph is larger than ${MAX_GRAPH_BYTES / 1024 / 1024} MB`);
    if (nesting(text) > MAX_NESTING) throw new KeepLoader(`${name} nests brackets more than ${MAX_NESTING} deep`);
    const source = basename(file);
    // JavaScript the loader runs as it is, so does the compile (only its imports change); TypeScript,
    // and JavaScript in a module system its syntax does not fit, goes through the compiler as the loader puts it.
    const plain = plainJavaScript(file, text, format);
    let code = text;
    let map: string | undefined;
    if (!plain) {
      const result = await esbuild.transform(text, { ...transformOptions(file, format, target, tsconfig), ...ownNames(source, text, format) }).catch((err: { errors?: Message[] }) => {
        throw new KeepLoader(`the compiler failed: ${describe(name, err.errors?.[0]) ?? (err as Error).message.split("\n")[0]}`);
      });
      const warning = result.warnings.find((w) => KEEPS_LOADER.has(w.id));
      if (warning) throw new KeepLoader(describe(name, warning)!);
      ({ code, map } = result);
    }
    const names = moduleNames(name, code, format, plain);
    const edits: TextEdit[] = [];
    for (const imp of names.imports) {
      if (self?.(imp.specifier)) throw new KeepLoader(`${name} imports its own package by name ("${imp.specifier}"), which only the loader resolves to TypeScript`);
      if (imp.dynamicEnd !== undefined) edits.push({ start: imp.dynamicEnd, end: imp.dynamicEnd, text: DYNAMIC_IMPORT_INTEROP });
      const target = importedModule(dir, file, imp.specifier, tsconfig, format, deps);
      if (!target) continue;
      queue.push(target);
      let spec = relative(dirname(file), compiledName(target)).split(sep).join("/");
      if (!spec.startsWith(".")) spec = `./${spec}`;
      edits.push({ start: imp.start, end: imp.end, text: JSON.stringify(spec) });
    }
    if (plain) edits.push(...ownNamesInPlace(source, code, format, names.meta));
    const edited = applyEdits(code, map, edits);
    compiled.set(file, { out, code: edited.code + (edited.map ? `\n//# sourceMappingURL=${basename(out)}.map\n` : ""), map: edited.map });
  }
  writeOutputs(dir, [...compiled.values()]);
  return relative(dir, compiledName(entryFile));
}

/** tsx's options for one module: the running Node as target, names kept, whitespace collapsed. */
function transformOptions(file: string, format: Format, target: string, tsconfig: TsconfigSettings): TransformOptions {
  const ext = extname(file);
  return {
    loader: ext === ".tsx" ? "tsx" : ext === ".jsx" ? "jsx" : [".ts", ".mts", ".cts"].includes(ext) ? "ts" : "js",
    format,
    ...(format === "cjs" ? { platform: "node" } : {}),
    target,
    keepNames: true,
    minifyWhitespace: true,
    sourcemap: "external",
    sourcesContent: false,
    sourcefile: basename(file),
    tsconfigRaw: (tsconfig.optionsFor(file) ?? {}) as TransformOptions["tsconfigRaw"],
    logLevel: "silent",
  };
}

/** The bundle module an import leads to; undefined for a package or a Node builtin, which Node finds itself. */
function importedModule(dir: string, from: string, specifier: string, tsconfig: TsconfigSettings, format: Format, deps: DependencyCheck): string | undefined {
  if (specifier.startsWith("./") || specifier.startsWith("../") || specifier === "." || specifier === "..") {
    const found = findModule(dir, from, specifier, resolve(dirname(from), specifier));
    if (!found) throw new KeepLoader(`${relative(dir, from)} imports "${specifier}", which is missing or outside the bundle`);
    return loadable(dir, found);
  }
  if (specifier.startsWith("/") || specifier.startsWith("file:")) throw new KeepLoader(`${relative(dir, from)} imports "${specifier}" by an absolute path`);
  if (specifier.startsWith("#")) throw new KeepLoader(`${relative(dir, from)} imports "${specifier}" through package.json "imports", which only the loader resolves to TypeScript`);
  // The tsconfig.json's paths come first, as the loader tries them; none found means a package.
  for (const candidate of tsconfig.pathsFor(specifier)) {
    const found = findModule(dir, from, specifier, candidate);
    if (found) return loadable(dir, found);
  }
  deps.check(from, relative(dir, from), specifier, format);
  return undefined;
}

function loadable(dir: string, file: string): string {
  if (!CODE_EXTENSIONS.includes(extname(file))) throw new KeepLoader(`${relative(dir, file)} is not a module plain Node loads without the loader`);
  return file;
}

/**
 * The source's own names where the compiled text would give its own: `import.meta.url` and
 * `.filename` (an ES module), `__filename` (CommonJS, set as the loader sets it). Only for a module
 * that uses them.
 */
function ownNames(source: string, text: string, format: Format): Pick<TransformOptions, "define" | "banner"> {
  if (format === "cjs") return text.includes("__filename") ? { banner: filenameStatement(source) } : {};
  if (!text.includes("import.meta")) return {};
  return { define: { "import.meta.url": META_NAMES.url, "import.meta.filename": META_NAMES.filename }, banner: metaStatement(source) };
}

/** `ownNames` for JavaScript kept as it is: the statement goes on its first line, so no line moves. */
function ownNamesInPlace(source: string, code: string, format: Format, meta: ReturnType<typeof moduleNames>["meta"]): TextEdit[] {
  // After a hashbang line (a file that is nothing else gets it at its end).
  const start = code.startsWith("#!") ? (code.indexOf("\n") + 1 || code.length) : 0;
  if (format === "cjs") return /\b__filename\b/.test(code) ? [{ start, end: start, text: filenameStatement(source) }] : [];
  if (meta.length === 0) return [];
  return [{ start, end: start, text: metaStatement(source) }, ...meta.map((m) => ({ start: m.start, end: m.end, text: META_NAMES[m.name] }))];
}

function filenameStatement(source: string): string {
  return `__filename=require("node:path").join(__dirname,${JSON.stringify(source)});`;
}

function metaStatement(source: string): string {
  const url = `new URL(${JSON.stringify(`./${encodeURIComponent(source)}`)},import.meta.url).href`;
  const filename = `import.meta.dirname===undefined?undefined:import.meta.dirname+${JSON.stringify(`/${source}`)}`;
  return `const ${META_NAMES.url}=${url},${META_NAMES.filename}=${filename};`;
}

/** `file` parsed, when it is JavaScript Node runs as it is in module system `format`; else undefined. */
function plainJavaScript(file: string, text: string, format: Format): ReturnType<typeof parseModule> | undefined {
  if (![".js", ".mjs", ".cjs"].includes(extname(file))) return undefined;
  try {
    return parseModule(text, format);
  } catch {
    return undefined;
  }
}

/** Whether a bare import names the bundle's own package (which Node resolves through its `exports`). */
function selfReference(dir: string): ((specifier: string) => boolean) | undefined {
  let pkg: { name?: unknown; exports?: unknown };
  try {
    pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as typeof pkg;
  } catch {
    throw new KeepLoader("package.json is not valid JSON");
  }
  const name = pkg?.name;
  if (typeof name !== "string" || pkg.exports === undefined) return undefined;
  return (specifier) => specifier === name || specifier.startsWith(`${name}/`);
}

/** How deep brackets nest in `text`, counted roughly (strings and comments included): enough to refuse a pathological source. */
function nesting(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 40 || c === 91 || c === 123) max = Math.max(max, ++depth);
    else if (c === 41 || c === 93 || c === 125) depth--;
  }
  return max;
}

/**
 * How Node loads each module: by its extension, else as its nearest package.json's `"type"` says
 * (inside the bundle; each folder's answer kept, so a package.json is read once).
 */
function moduleFormats(dir: string): (file: string) => Format {
  const folders = new Map<string, Format>();
  const folderFormat = (d: string): Format => {
    let f = folders.get(d);
    if (f) return f;
    const pkg = join(d, "package.json");
    if (kindOf(dir, pkg) === "file") {
      try {
        f = packageTypeAt(pkg) === "module" ? "esm" : "cjs";
      } catch {
        throw new KeepLoader(`${relative(dir, pkg)} is not valid JSON`);
      }
    } else f = d === dir ? "cjs" : folderFormat(dirname(d));
    folders.set(d, f);
    return f;
  };
  return (file) => {
    const ext = extname(file);
    if (ext === ".mts" || ext === ".mjs") return "esm";
    if (ext === ".cts" || ext === ".cjs") return "cjs";
    return folderFormat(dirname(file));
  };
}

/** A compiler message, where it is: `ops.ts:3:7: Expected ")" but found ";"`. */
function describe(name: string, m: Message | undefined): string | undefined {
  if (!m) return undefined;
  return m.location ? `${name}:${m.location.line}:${m.location.column}: ${m.text}` : `${name}: ${m.text}`;
}

/**
 * Each compiled module and its map, beside its source, created only where no file (or link) is:
 * never opened through a link that appeared meanwhile (O_EXCL). All or nothing.
 */
function writeOutputs(dir: string, modules: readonly Compiled[]): void {
  const files = modules.flatMap((m) => [[m.out, m.code] as const, ...(m.map === undefined ? [] : [[`${m.out}.map`, m.map] as const])]);
  for (const [file] of files) if (lstatSync(file!, { throwIfNoEntry: false })) throw new KeepLoader(`the bundle already has a file ${relative(dir, file!)}`);
  const written: string[] = [];
  try {
    for (const [file, text] of files) {
      writeFileSync(file!, text!, { flag: "wx" });
      written.push(file!);
    }
  } catch (err) {
    for (const f of written) rmSync(f, { force: true });
    throw new KeepLoader(`a compiled module could not be written: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
