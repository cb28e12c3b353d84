// Deploy-time reading of the user's TypeScript source: each public method's (and forward's)
// parameter and result types as JSON Schemas, and which parameters may be left out (`?`), which
// the running JavaScript no longer says. The compiler is imported only here, only when deploying.
import { readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type ts from "typescript";
import { defaultCacheDir } from "../lib/cache-root.ts";
import { DeriveCache, type ReadingInputs } from "./derive-cache.ts";
import { SchemaConverter } from "./type-to-schema.ts";
import type { FnSchemas, JsonSchema, SchemaSet } from "./types.ts";

type TS = typeof ts;

export interface DeriveInput {
  /** Absolute path of the module that exports the operator. */
  file: string;
  exportName: string;
  /** "class": methods live on instances of the export; otherwise the export (or its instances) has `forward`. */
  kind: "fn" | "class" | "operator" | "instance";
  /** Public method names found at run time (the served surface); their types are looked up by name. */
  methods: string[];
  /** Does the served surface have forward? */
  forward: boolean;
}

export interface DerivedTypes {
  schemas: SchemaSet;
  /** Per method (and "forward"): which parameters TypeScript lets a caller leave out. */
  optional: Record<string, boolean[]>;
}

const GENERATORS = new Set(["Generator", "AsyncGenerator", "IterableIterator", "AsyncIterableIterator", "Iterable", "AsyncIterable", "IteratorObject", "AsyncIteratorObject"]);

let tsModule: Promise<TS> | undefined;
const loadTs = () => (tsModule ??= import("typescript").then((m) => ((m as { default?: TS }).default ?? (m as unknown as TS))));

export interface DeriveOptions {
  /** Where readings are kept for the next deploy (default `<nbox cache>/types`); false: always read afresh. */
  cacheDir?: string | false;
}

/**
 * Parameter and result schemas of an exported operator, from its source. Never throws: what cannot
 * be read is left out and said in `schemas.notes`. A reading whose sources did not change since the
 * last deploy is taken from the cache, without loading the compiler.
 * @example const { schemas } = await deriveTypes({ file: "/p/ops.ts", exportName: "Notes", kind: "class", methods: ["add"], forward: false })
 */
export async function deriveTypes(input: DeriveInput, opts: DeriveOptions = {}): Promise<DerivedTypes> {
  const empty = (note: string): DerivedTypes => ({ schemas: { defs: {}, methods: {}, fields: {}, notes: [note] }, optional: {} });
  const cache = cacheOf(opts);
  const kept = cache?.read(input);
  if (kept) return kept;
  let T: TS;
  try {
    T = await loadTs();
  } catch (err) {
    return empty(`no schemas: the typescript package could not be loaded (${(err as Error).message})`);
  }
  try {
    const { types, inputs } = derive(T, input);
    if (cache && inputs) cache.write(input, inputs, types);
    return types;
  } catch (err) {
    return empty(`no schemas: reading the types of ${input.exportName} failed (${(err as Error).message})`);
  }
}

/** The cache, salted with what readings also depend on: the compiler's version and this code. */
function cacheOf(opts: DeriveOptions): DeriveCache | undefined {
  if (opts.cacheDir === false) return undefined;
  try {
    const tsVersion = (JSON.parse(readFileSync(createRequire(import.meta.url).resolve("typescript/package.json"), "utf8")) as { version: string }).version;
    const own = [fileURLToPath(import.meta.url), fileURLToPath(new URL(`./type-to-schema${import.meta.url.slice(-3)}`, import.meta.url))].map((f) => {
      const st = statSync(f);
      return `${st.size}:${st.mtimeMs}`;
    });
    return new DeriveCache(opts.cacheDir ?? join(defaultCacheDir(), "types"), JSON.stringify([tsVersion, own]));
  } catch {
    return undefined; // no compiler to read with: the reading says why
  }
}

function derive(T: TS, input: DeriveInput): { types: DerivedTypes; inputs?: ReadingInputs } {
  const { program, configs } = programFor(T, input.file);
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(input.file);
  const moduleSymbol = source && checker.getSymbolAtLocation(source);
  if (!source || !moduleSymbol) throw new Error(`${input.file} is not part of the program`);
  let exp = checker.getExportsOfModule(moduleSymbol).find((s) => s.getName() === input.exportName);
  if (!exp) throw new Error(`${input.file} has no export "${input.exportName}" the compiler can see`);
  if (exp.flags & T.SymbolFlags.Alias) exp = checker.getAliasedSymbol(exp);
  const value = checker.getTypeOfSymbol(exp);
  const ctor = value.getConstructSignatures()[0];
  const instance = ctor ? ctor.getReturnType() : value;

  const conv = new SchemaConverter(T, checker);
  const notes: string[] = [];
  const schemas: SchemaSet = { defs: conv.defs, methods: {}, fields: {} };
  const optional: Record<string, boolean[]> = {};
  const fnOf = (name: string): ts.Signature | undefined => {
    const prop = checker.getPropertyOfType(instance, name);
    const all = prop ? checker.getTypeOfSymbol(prop).getCallSignatures() : [];
    // `Operator & { forward: F }` also carries the base's `forward(...args: any[])`: F is the one that says something.
    const sigs = all.filter((sig) => !isAnyRest(T, checker, sig));
    if (sigs.length > 1) notes.push(`${name}() has ${sigs.length} overloads; the first one is published`);
    return sigs[0] ?? all[0];
  };
  const read = (name: string, sig: ts.Signature | undefined): FnSchemas | undefined => {
    if (!sig) {
      notes.push(`${name}(): no type information found; its arguments are not checked`);
      return undefined;
    }
    const r = fnSchemas(T, checker, conv, sig);
    optional[name] = r.optional;
    return r.schemas;
  };
  if (input.kind === "class") {
    for (const m of input.methods) {
      const s = read(m, fnOf(m));
      if (s) schemas.methods[m] = s;
    }
    for (const [name, schema] of fieldsOf(T, checker, conv, instance, new Set(input.methods))) schemas.fields[name] = schema;
  }
  if (input.forward) {
    const s = read("forward", fnOf("forward") ?? instance.getCallSignatures()[0]);
    if (s) schemas.forward = s;
  }
  if (notes.length > 0) schemas.notes = notes;
  const types = { schemas, optional };
  // A reading with an unresolved import is not kept: installing the module would change it, and
  // nothing the reading looked at would say so.
  if (!importsResolved(T, program, checker)) return { types };
  const files = program.getSourceFiles().filter((sf) => !program.isSourceFileDefaultLibrary(sf)).map((sf) => ({ path: sf.fileName, text: sf.text }));
  return { types, inputs: { files, configs } };
}

/** Every import and re-export of the project's own files found its module. */
function importsResolved(T: TS, program: ts.Program, checker: ts.TypeChecker): boolean {
  for (const sf of program.getSourceFiles()) {
    if (sf.isDeclarationFile || sf.fileName.split(/[\\/]/).includes("node_modules")) continue;
    for (const st of sf.statements) {
      const spec = T.isImportDeclaration(st) || T.isExportDeclaration(st) ? st.moduleSpecifier : undefined;
      if (spec && !checker.getSymbolAtLocation(spec)) return false;
    }
  }
  return true;
}

/** `(...args: any[]) => …`: a signature that accepts anything and tells nothing. */
function isAnyRest(T: TS, checker: ts.TypeChecker, sig: ts.Signature): boolean {
  const params = sig.getParameters();
  if (params.length !== 1) return false;
  const decl = params[0]!.valueDeclaration;
  if (!decl || !T.isParameter(decl) || !decl.dotDotDotToken) return false;
  const type = checker.getTypeOfSymbol(params[0]!);
  const item = checker.isArrayType(type) ? checker.getTypeArguments(type as ts.TypeReference)[0] : undefined;
  return !!item && (item.flags & T.TypeFlags.Any) !== 0;
}

function fnSchemas(T: TS, checker: ts.TypeChecker, conv: SchemaConverter, sig: ts.Signature): { schemas: FnSchemas; optional: boolean[] } {
  const params: JsonSchema[] = [];
  const optional: boolean[] = [];
  const maybeAbsent: boolean[] = [];
  let rest: JsonSchema | undefined;
  for (const p of sig.getParameters()) {
    const decl = p.valueDeclaration as ts.ParameterDeclaration | undefined;
    const type = checker.getTypeOfSymbol(p);
    if (decl && T.isParameter(decl) && decl.dotDotDotToken) {
      rest = checker.isArrayType(type) ? conv.convert(checker.getTypeArguments(type as ts.TypeReference)[0] ?? checker.getAnyType()) : {};
      continue;
    }
    const isOptional = !!decl && T.isParameter(decl) && (!!decl.questionToken || !!decl.initializer);
    const bare = conv.withoutUndefined(type);
    params.push(conv.convert(bare.type));
    optional.push(isOptional);
    maybeAbsent.push(!isOptional && bare.mayBeAbsent);
  }
  const schemas: FnSchemas = { params };
  if (maybeAbsent.some(Boolean)) schemas.maybeAbsent = maybeAbsent;
  if (rest) schemas.rest = rest;
  const ret = sig.getReturnType();
  const gen = ret.getSymbol()?.getName();
  if (gen && GENERATORS.has(gen)) {
    const item = checker.getTypeArguments(ret as ts.TypeReference)[0];
    schemas.yields = item ? conv.convert(item) : {};
  } else {
    const awaited = checker.getAwaitedType(ret) ?? ret;
    const { type, mayBeAbsent } = conv.withoutUndefined(awaited);
    const nothing = type.flags & (T.TypeFlags.Undefined | T.TypeFlags.Void) || type.flags & T.TypeFlags.Never;
    if (!nothing) {
      schemas.returns = conv.convert(type);
      if (mayBeAbsent) schemas.returnsOptional = true;
    }
  }
  return { schemas, optional };
}

/** Declared public data fields and getters of an instance type (what GET /attr can read). */
function fieldsOf(T: TS, checker: ts.TypeChecker, conv: SchemaConverter, instance: ts.Type, methods: Set<string>): [string, JsonSchema][] {
  const out: [string, JsonSchema][] = [];
  for (const prop of checker.getPropertiesOfType(instance)) {
    const name = prop.getName();
    if (methods.has(name) || name.startsWith("_") || name.startsWith("#") || name.startsWith("$") || name.startsWith("__@")) continue;
    if (prop.flags & T.SymbolFlags.Method) continue;
    const decl = prop.valueDeclaration ?? prop.declarations?.[0];
    if (decl && T.getCombinedModifierFlags(decl as ts.Declaration) & (T.ModifierFlags.Private | T.ModifierFlags.Protected)) continue;
    const type = checker.getTypeOfSymbol(prop);
    if (type.getCallSignatures().length > 0) continue;
    out.push([name, conv.convert(conv.withoutUndefined(type).type)]);
  }
  return out;
}

// ---- the program ------------------------------------------------------------------------------

/** Parsed files by path and mtime: a process that deploys many times parses each file once. */
const parsed = new Map<string, { mtimeMs: number; target: ts.ScriptTarget; sf: ts.SourceFile }>();
let previous: ts.Program | undefined;

/** The options to read `file` with, and the tsconfig files they came from (the found one first). */
function optionsFor(T: TS, file: string): { options: ts.CompilerOptions; configs: string[] } {
  const defaults: ts.CompilerOptions = { target: T.ScriptTarget.ES2022, module: T.ModuleKind.ESNext, moduleResolution: T.ModuleResolutionKind.Bundler };
  let base = defaults;
  const configs: string[] = [];
  const configPath = T.findConfigFile(dirname(file), T.sys.fileExists);
  if (configPath) {
    configs.push(configPath);
    const read = T.readConfigFile(configPath, T.sys.readFile);
    // Files it `extends` are read through this host: they are what the options depend on too.
    const host: ts.ParseConfigHost = { ...T.sys, readFile: (p) => (configs.push(p), T.sys.readFile(p)) };
    if (!read.error) base = { ...defaults, ...T.parseJsonConfigFileContent(read.config, host, dirname(configPath)).options };
  }
  // What reading types needs, whatever the project's settings: null checks (optional parameters),
  // its own `.ts` import specifiers, plain JS files, and no output.
  // Without a project setting, the language's own library only: the DOM's declarations take longer
  // to read than everything else together, and a serving's types rarely come from them.
  const options = { ...base, lib: base.lib ?? ["lib.es2023.d.ts"], strict: base.strict ?? true, strictNullChecks: true, allowJs: true, allowImportingTsExtensions: true, skipLibCheck: true, noEmit: true, incremental: false, composite: false, declaration: false };
  return { options, configs };
}

function programFor(T: TS, file: string): { program: ts.Program; configs: string[] } {
  const { options, configs } = optionsFor(T, file);
  const host = T.createCompilerHost(options, true);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, lang, onError, fresh) => {
    let mtimeMs: number;
    try {
      mtimeMs = statSync(fileName).mtimeMs;
    } catch {
      return getSourceFile(fileName, lang, onError, fresh);
    }
    const target = typeof lang === "object" ? lang.languageVersion : lang;
    const hit = parsed.get(fileName);
    if (hit && hit.mtimeMs === mtimeMs && hit.target === target) return hit.sf;
    const sf = getSourceFile(fileName, lang, onError, fresh);
    if (sf) parsed.set(fileName, { mtimeMs, target, sf });
    return sf;
  };
  previous = T.createProgram({ rootNames: [file], options, host, oldProgram: previous });
  return { program: previous, configs };
}
