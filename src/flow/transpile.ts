// The user's module file as plain JavaScript with a map back to its own text. Under tsx, a
// function's toString() is compiled code with its whitespace collapsed; flow reads the file itself
// instead, compiled here without minifying, and maps every position back to the original.
import { readFileSync, statSync } from "node:fs";
import { createRequire, SourceMap } from "node:module";
import { extname } from "node:path";
import type { AnyNode } from "acorn";
import { parse } from "../lib/lazy-acorn.ts";
import { lineOf, lineStarts } from "../lib/line-starts.ts";

export interface CompiledFile {
  file: string;
  /** The user's own text. */
  original: string;
  /** JavaScript the positions of `program` refer to (the original itself for .js files). */
  code: string;
  program: AnyNode;
  /** Generated offset → original offset (exact for .js), undefined when no mapping covers it. */
  toOriginal(offset: number): number | undefined;
  /** 1-based line and 0-based column of an offset in the original text. */
  position(offset: number): { line: number; column: number };
}

const TS_LOADERS: Record<string, "ts" | "tsx"> = { ".ts": "ts", ".mts": "ts", ".cts": "ts", ".tsx": "tsx" };
const JS_EXTS = new Set([".js", ".mjs", ".cjs", ".jsx"]);

const cache = new Map<string, { key: string; compiled: CompiledFile | undefined }>();

type Esbuild = { transformSync(code: string, opts: Record<string, unknown>): { code: string; map: string } };
let esbuild: Esbuild | undefined;
function loadEsbuild(): Esbuild {
  // The compiler tsx itself uses, loaded only when a TypeScript file's flow is asked for.
  return (esbuild ??= createRequire(import.meta.url)("esbuild") as Esbuild);
}

function parseJs(code: string, sourceType: "module" | "script"): AnyNode {
  return parse(code, { ecmaVersion: "latest", sourceType, locations: true, allowHashBang: true, allowAwaitOutsideFunction: true, allowReturnOutsideFunction: true }) as AnyNode;
}

function parseEither(code: string): AnyNode {
  try {
    return parseJs(code, "module");
  } catch {
    return parseJs(code, "script");
  }
}

/** Generated positions → original ones through esbuild's source map. */
function mapper(code: string, original: string, map: SourceMap): (offset: number) => number | undefined {
  const genStarts = lineStarts(code);
  const origStarts = lineStarts(original);
  return (offset) => {
    const line = lineOf(genStarts, offset);
    const e = map.findEntry(line, offset - genStarts[line]!) as { generatedLine?: number; generatedColumn?: number; originalLine?: number; originalColumn?: number };
    if (e.generatedLine === undefined || e.originalLine === undefined || e.originalColumn === undefined) return undefined;
    const entryAt = genStarts[e.generatedLine]! + e.generatedColumn!;
    const between = code.slice(entryAt, offset);
    const base = (origStarts[e.originalLine] ?? NaN) + e.originalColumn;
    if (!Number.isFinite(base)) return undefined;
    // esbuild maps where each expression starts; text after that start is copied as is (same line).
    if (/^\s*$/.test(between)) return base;
    if (between.includes("\n")) return undefined;
    return base + between.length;
  };
}

function compile(file: string, original: string): CompiledFile | undefined {
  const ext = extname(file).toLowerCase();
  const starts = lineStarts(original);
  const position = (offset: number) => {
    const line = lineOf(starts, offset);
    return { line: line + 1, column: offset - starts[line]! };
  };
  if (JS_EXTS.has(ext)) return { file, original, code: original, program: parseEither(original), toOriginal: (o) => o, position };
  const loader = TS_LOADERS[ext];
  if (!loader) return undefined;
  const out = loadEsbuild().transformSync(original, { loader, sourcemap: "external", sourcefile: file, target: `node${process.versions.node}` });
  const map = new SourceMap(JSON.parse(out.map));
  return { file, original, code: out.code, program: parseEither(out.code), toOriginal: mapper(out.code, original, map), position };
}

/** The compiled view of `file`, cached until the file changes; undefined when it cannot be read or compiled. */
export function compiledFile(file: string): CompiledFile | undefined {
  let key: string;
  try {
    const st = statSync(file);
    key = `${st.mtimeMs}:${st.size}`;
  } catch {
    return undefined;
  }
  const hit = cache.get(file);
  if (hit?.key === key) return hit.compiled;
  let compiled: CompiledFile | undefined;
  try {
    compiled = compile(file, readFileSync(file, "utf8"));
  } catch {
    compiled = undefined; // not valid TypeScript/JavaScript for us: flow falls back to the running code
  }
  cache.set(file, { key, compiled });
  return compiled;
}
