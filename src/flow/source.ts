// Turning a runtime `forward` into an acorn function node.
// toString() of a method is not a valid program on its own (`forward(x) { … }`), so we try a few
// wrappers. Every wrapper's prefix ends in "\n", so locations stay relative to the forward source
// after subtracting one line.
import type { AnyNode, Options } from "acorn";
import { parse } from "../lib/lazy-acorn.ts";
import type { FlowLoc, FlowSubject } from "./types.ts";

export type FunctionNode = Extract<AnyNode, { type: "FunctionExpression" | "ArrowFunctionExpression" }>;

export type SourceResult = { ok: true; source: string } | { ok: false; reason: string };

export interface ParsedForward {
  fn: FunctionNode;
  /** Source text between two offsets of the parsed code (the user's own text when read from the file). */
  slice(start: number, end: number): string;
  /** Where a node starts. */
  loc(node: AnyNode): FlowLoc;
}

/** A forward parsed from its running source: positions relative to that source. */
function fromRunning(fn: FunctionNode, text: string): ParsedForward {
  return {
    fn,
    slice: (start, end) => text.slice(start, end),
    // Every wrapper prefix is exactly one line.
    loc: (n) => (n.loc?.start ? { line: n.loc.start.line - 1, column: n.loc.start.column } : { line: 0, column: 0 }),
  };
}

export type ParseResult = { ok: true; parsed: ParsedForward } | { ok: false; reason: string };

const NATIVE = /\{\s*\[native code\]\s*\}\s*$/;

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Reads forward's source without ever throwing (getters, odd toString overrides, natives). */
export function readForwardSource(subject: FlowSubject): SourceResult {
  let fn: unknown;
  try {
    fn = subject.forward;
  } catch (e) {
    return { ok: false, reason: `reading forward threw: ${message(e)}` };
  }
  if (typeof fn !== "function") return { ok: false, reason: "has no forward function" };
  let source: unknown;
  try {
    // The function's own toString (normally Function.prototype.toString) so overrides are honoured.
    source = fn.toString();
  } catch (e) {
    return { ok: false, reason: `forward.toString() threw: ${message(e)}` };
  }
  if (typeof source !== "string") return { ok: false, reason: "forward.toString() did not return a string" };
  if (NATIVE.test(source)) return { ok: false, reason: "forward is native or bound: no source to analyse" };
  return { ok: true, source };
}

const OPTIONS: Options = {
  ecmaVersion: "latest",
  sourceType: "module",
  locations: true,
  allowAwaitOutsideFunction: true,
  allowReturnOutsideFunction: true,
  allowSuperOutsideMethod: true,
};

type Extract_ = (program: AnyNode) => FunctionNode | undefined;
interface Attempt {
  prefix: string;
  suffix: string;
  extract: Extract_;
}

function isFn(n: AnyNode | null | undefined): n is FunctionNode {
  return !!n && (n.type === "FunctionExpression" || n.type === "ArrowFunctionExpression");
}

function firstExpression(program: AnyNode): AnyNode | undefined {
  if (program.type !== "Program") return undefined;
  const s = program.body[0];
  return s?.type === "ExpressionStatement" ? s.expression : undefined;
}

// `this.#x` only parses inside a class declaring #x, so the class wrappers declare every #name seen.
function privateDecls(source: string): string {
  const names = new Set(Array.from(source.matchAll(/#([A-Za-z_$][\w$]*)/g), (m) => m[1]));
  return Array.from(names, (n) => `#${n};`).join(" ");
}

function attempts(source: string): Attempt[] {
  const priv = privateDecls(source);
  const expr: Extract_ = (p) => {
    const e = firstExpression(p);
    return isFn(e) ? e : undefined;
  };
  const objectMethod: Extract_ = (p) => {
    const e = firstExpression(p);
    const prop = e?.type === "ObjectExpression" ? e.properties[0] : undefined;
    return prop?.type === "Property" && isFn(prop.value) ? prop.value : undefined;
  };
  const classMember: Extract_ = (p) => {
    const e = firstExpression(p);
    if (e?.type !== "ClassExpression") return undefined;
    const m = e.body.body[e.body.body.length - 1];
    if (m?.type === "MethodDefinition") return m.value;
    if (m?.type === "PropertyDefinition" && isFn(m.value)) return m.value;
    return undefined;
  };
  return [
    { prefix: "(\n", suffix: "\n)", extract: expr }, // function expression / arrow
    { prefix: "({\n", suffix: "\n})", extract: objectMethod }, // method shorthand
    { prefix: `(class { ${priv}\n`, suffix: "\n})", extract: classMember }, // method using #private
    { prefix: `(class { ${priv} __f = (\n`, suffix: "\n) })", extract: classMember }, // arrow using #private
  ];
}

/** Parses forward's source; on failure reports the error of the attempt that got furthest. */
export function parseForward(source: string): ParseResult {
  let best: { pos: number; msg: string } | undefined;
  for (const a of attempts(source)) {
    const text = a.prefix + source + a.suffix;
    try {
      const program = parse(text, OPTIONS) as AnyNode;
      const fn = a.extract(program);
      if (fn) return { ok: true, parsed: fromRunning(fn, text) };
    } catch (e) {
      const pos = ((e as { pos?: number }).pos ?? 0) - a.prefix.length;
      const loc = (e as { loc?: { line: number; column: number } }).loc;
      // acorn appends "(line:col)" of the wrapped text; restate it relative to the forward source.
      const base = message(e).replace(/\s*\(\d+:\d+\)$/, "");
      const msg = loc ? `${base} (${loc.line - 1}:${loc.column})` : base;
      if (!best || pos > best.pos) best = { pos, msg };
    }
  }
  return { ok: false, reason: best ? best.msg : "source is not a function" };
}
