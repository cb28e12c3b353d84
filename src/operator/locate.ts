import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { isOperator } from "./brand.ts";
import { namedExports } from "./module-exports.ts";
import { stateOf } from "./invoke.ts";
import type { Operator } from "./operator.ts";
import { walkNamed } from "./tree.ts";
import { wrappedClassMeta } from "./wrap-class.ts";
import type { AnyClass } from "./types.ts";
import { toWire } from "../codec/index.ts";

export const OPERATOR_KINDS = ["fn", "class", "operator", "instance"] as const;
export type OperatorKind = (typeof OPERATOR_KINDS)[number];

/** Everything a fresh process needs to rebuild an operator: module, export, how to build it. */
export interface OperatorLocator {
  file: string;
  exportName: string;
  kind: OperatorKind;
  /** Constructor arguments (codec wire values) for kinds "class" and "operator". */
  init: unknown[];
  /** Field snapshot per dotted operator name, re-applied with `thaw` (kind "operator"). */
  state?: Record<string, Record<string, unknown>>;
}

export class LocateError extends Error {
  override name = "LocateError";
}

// A module still evaluating (e.g. it awaits deploy() at top level) never settles a dynamic
// import of itself; past this wait we fall back to reading its export names from source.
const IMPORT_WAIT_MS = 1500;

async function importSettled(file: string): Promise<Record<string, unknown> | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), IMPORT_WAIT_MS)));
  try {
    return await Promise.race([import(pathToFileURL(file).href) as Promise<Record<string, unknown>>, late]);
  } finally {
    clearTimeout(timer);
  }
}

const EXPORT_DECL = /export\s+(?:default\s+)?(?:declare\s+)?(?:abstract\s+)?(?:const|let|var|async\s+function\*?|function\*?|class)\s+([A-Za-z_$][\w$]*)/g;
const EXPORT_LIST = /export\s*\{([^}]*)\}/g;

/** Export names declared in a module's source (fallback when the module cannot be imported yet). */
export function exportNamesFromSource(file: string): string[] {
  const src = readFileSync(file, "utf8");
  const names = new Set<string>();
  for (const m of src.matchAll(EXPORT_DECL)) names.add(m[1]!);
  for (const m of src.matchAll(EXPORT_LIST)) {
    for (const part of m[1]!.split(",")) {
      const name = part.trim().split(/\s+as\s+/).pop()?.trim();
      if (name) names.add(name);
    }
  }
  return [...names];
}

/** JSON-able own fields of each operator in the tree (children and functions are rebuilt by the constructor). */
function snapshot(root: Operator): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, op] of walkNamed(root)) {
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(op)) {
      if (isOperator(v) || typeof v === "function") continue;
      try {
        fields[k] = toWire(v, { path: `${name || "root"}.${k}` });
      } catch {
        // Not sendable (e.g. a socket): the constructor on the worker rebuilds it.
      }
    }
    out[name] = fields;
  }
  return out;
}

export interface LocateOptions {
  /** Explicit export name (skips the search). */
  exportName?: string;
  /** Constructor arguments for classes and Operator subclasses. */
  init?: unknown[];
}

/**
 * Find the module export that holds `target`, by identity: an exported operator or wrapped
 * class, an exported Operator instance, or the exported class of an Operator instance.
 */
export async function locateOperator(target: Operator | AnyClass, opts: LocateOptions = {}): Promise<OperatorLocator> {
  const init = (opts.init ?? []).map((a, i) => toWire(a, { path: `init[${i}]` }));
  const op = isOperator(target) ? target : undefined;
  const meta = op ? undefined : wrappedClassMeta(target);
  const st = op ? stateOf(op) : undefined;
  const label = st?.name ?? (target as AnyClass).name;
  const files = [...new Set([st?.createdAt?.file, st?.definedAt?.file, meta?.createdAt?.file].filter((f): f is string => !!f))];
  if (files.length === 0) {
    throw new LocateError(`cannot tell which file defines ${label}; pass { root, export } or define it in a module file`);
  }
  const cls = op && st!.kind === "operator" ? (op.constructor as AnyClass) : undefined;
  const kindOf = (value: unknown): OperatorKind | undefined => {
    if (value === target) return op ? (st!.kind === "fn" ? "fn" : "instance") : "class";
    if (cls && value === cls) return "operator";
    return undefined;
  };
  const located = (file: string, exportName: string, kind: OperatorKind): OperatorLocator => ({
    file,
    exportName,
    kind,
    init: kind === "class" || kind === "operator" ? init : [],
    ...(kind === "operator" && op ? { state: snapshot(op) } : {}),
  });

  for (const file of files) {
    const imported = await importSettled(file);
    if (imported) {
      const mod = namedExports(imported);
      const entries = opts.exportName ? [[opts.exportName, mod[opts.exportName]] as const] : Object.entries(mod);
      const hit = entries.map(([name, value]) => [name, kindOf(value)] as const).sort((a, b) => rank(a[1]) - rank(b[1]))[0];
      if (hit?.[1]) return located(file, hit[0], hit[1]);
      continue;
    }
    // Module still loading: trust the source's export names, matched by the operator's own name.
    const names = exportNamesFromSource(file);
    const wanted = opts.exportName ?? (cls ? cls.name : label);
    if (names.includes(wanted)) {
      const kind: OperatorKind = cls ? "operator" : op ? (st!.kind === "fn" ? "fn" : "instance") : "class";
      return located(file, wanted, kind);
    }
  }
  const hint = opts.exportName
    ? `no export named "${opts.exportName}" holds it`
    : `export it (e.g. \`export const ${label[0]?.toLowerCase()}${label.slice(1)} = ...\` or \`export class ${label}\`)`;
  throw new LocateError(`${label} is not exported from ${files.join(" or ")}: ${hint} so a worker can load it`);
}

// Prefer the exact object over its class when both are exported.
const rank = (k: OperatorKind | undefined) => (k === undefined ? 9 : k === "operator" ? 1 : 0);
