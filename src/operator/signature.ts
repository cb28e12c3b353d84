import type { Node } from "acorn";
import { parseExpressionAt } from "../lib/lazy-acorn.ts";

export interface ParamInfo {
  name: string;
  optional: boolean;
  rest: boolean;
}
/**
 * Parameters of a function. `minArgs`: arguments a call must pass (up to the last parameter with
 * no default, `?` or rest); `maxArgs`: Infinity with a rest parameter.
 */
export interface FnSignature {
  params: ParamInfo[];
  minArgs: number;
  maxArgs: number;
}

const UNKNOWN: FnSignature = { params: [], minArgs: 0, maxArgs: Infinity };

/** `minArgs` of a parameter list: `f(a = 1, b)` still needs both (pass `undefined` for a). */
export function minArgsOf(params: readonly ParamInfo[]): number {
  for (let i = params.length - 1; i >= 0; i--) if (!params[i]!.optional && !params[i]!.rest) return i + 1;
  return 0;
}

/** A signature for messages: `add(title, body?)`, `log(...lines)`. */
export function formatSignature(name: string, params: readonly ParamInfo[]): string {
  return `${name}(${params.map((p) => (p.rest ? `...${p.name}` : p.optional ? `${p.name}?` : p.name)).join(", ")})`;
}

/** What an arity mismatch says, or undefined when `n` arguments fit: `add(title, body?) takes 1-2 arguments, got 0`. */
export function arityProblem(name: string, sig: { params: readonly ParamInfo[]; minArgs?: number; maxArgs: number | null }, n: number): string | undefined {
  const min = sig.minArgs ?? minArgsOf(sig.params);
  const max = sig.maxArgs === null ? Infinity : sig.maxArgs;
  if (n >= min && n <= max) return undefined;
  const plural = (k: number) => (k === 1 ? "argument" : "arguments");
  const range = max === Infinity ? `at least ${min} ${plural(min)}` : min === max ? `${min} ${plural(min)}` : `${min}-${max} arguments`;
  return `${formatSignature(name, sig.params)} takes ${range}, got ${n}`;
}

function paramName(p: any): string {
  if (p.type === "Identifier") return p.name;
  if (p.type === "AssignmentPattern") return paramName(p.left);
  if (p.type === "RestElement") return paramName(p.argument);
  return p.type === "ObjectPattern" ? "{…}" : p.type === "ArrayPattern" ? "[…]" : "arg";
}

/**
 * Declarations of the private names a method's source uses (`this.#notes`), for the class it is
 * parsed in: acorn refuses a private name no enclosing class declares. The method's own name is
 * declared by the method itself.
 */
function privateNameDeclarations(src: string): string {
  const own = /^\s*(?:static\s+)?(?:async\s+)?\*?\s*#([\w$]+)/.exec(src)?.[1];
  const names = new Set([...src.matchAll(/#([A-Za-z_$][\w$]*)/g)].map((m) => m[1]!));
  if (own !== undefined) names.delete(own);
  return [...names].map((n) => `#${n};`).join("");
}

function parseFunction(src: string): Node & { params: any[] } {
  // Methods (`forward(x) {}`) are not expressions on their own: try as-is, then as an object method,
  // then as a class method (which may use the class's private names).
  const declared = privateNameDeclarations(src);
  for (const [prefix, pick] of [
    ["", (n: any) => n],
    ["({", (n: any) => n.properties[0].value],
    [`(class{${declared}`, (n: any) => n.body.body.at(-1).value],
  ] as const) {
    try {
      const node = parseExpressionAt(prefix + src + (prefix === "({" ? "})" : prefix ? "})" : ""), 0, { ecmaVersion: "latest" }) as any;
      const fn = pick(node);
      if (fn && Array.isArray(fn.params)) return fn;
    } catch {
      /* next form */
    }
  }
  throw new SyntaxError("unparseable function source");
}

/**
 * Read a function's parameters from its source (`fn.length` stops at the first default,
 * so `foo(i = 4)` would wrongly accept no arguments). Native/unparseable → no limit.
 */
export function signatureOf(fn: Function): FnSignature {
  const src = Function.prototype.toString.call(fn);
  if (/\[native code\]\s*\}$/.test(src)) return UNKNOWN;
  try {
    const params = parseFunction(src).params.map((p: any) => ({
      name: paramName(p),
      optional: p.type === "AssignmentPattern" || p.type === "RestElement",
      rest: p.type === "RestElement",
    }));
    return { params, minArgs: minArgsOf(params), maxArgs: params.some((p) => p.rest) ? Infinity : params.length };
  } catch {
    return UNKNOWN;
  }
}
