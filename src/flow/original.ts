// Find a running `forward` in the user's own file: every function there whose syntax tree equals the
// running one's (compiled code has the same tree, only its whitespace and types differ) is a
// candidate; a `forward` method of the right class, then the one nearest the known line, wins.
import type { AnyNode } from "acorn";
import { full } from "../lib/lazy-acorn.ts";
import type { FunctionNode, ParsedForward } from "./source.ts";
import { compiledFile, type CompiledFile } from "./transpile.ts";
import type { FlowLoc, SourceHint } from "./types.ts";

const POSITION_KEYS = new Set(["start", "end", "loc", "range", "raw", "sourceFile"]);

/** A function's tree as text, without positions or spelling; tsx's `__name(fn, "x")` wrappers see through. */
function shape(n: unknown, root = false): string {
  if (Array.isArray(n)) return `[${n.map((x) => shape(x)).join(",")}]`;
  if (typeof n === "bigint") return `${n}n`;
  if (n === null || typeof n !== "object") return JSON.stringify(n) ?? "u";
  const node = n as AnyNode & Record<string, unknown>;
  if (node.type === "CallExpression" && node.callee.type === "Identifier" && node.callee.name === "__name" && node.arguments[0]) return shape(node.arguments[0]);
  // A declaration's toString() parses as an expression: same function.
  const type = root && node.type === "FunctionDeclaration" ? "FunctionExpression" : node.type;
  const keys = Object.keys(node).filter((k) => !POSITION_KEYS.has(k) && k !== "type" && !(root && k === "id")).sort();
  return `${type}{${keys.map((k) => `${k}:${shape(node[k])}`).join(",")}}`;
}

const isFunction = (n: AnyNode): n is FunctionNode | Extract<AnyNode, { type: "FunctionDeclaration" }> =>
  n.type === "FunctionExpression" || n.type === "ArrowFunctionExpression" || n.type === "FunctionDeclaration";

interface Candidate {
  fn: FunctionNode;
  /** Method key and class name when the function is a class method. */
  method?: string;
  className?: string;
}

/** Every function in the program, with the class and key it is a method of (if any). */
function functionsOf(program: AnyNode): Candidate[] {
  const out: Candidate[] = [];
  const owners = new Map<AnyNode, Candidate>();
  full(program, (node) => {
    if (node.type === "ClassDeclaration" || node.type === "ClassExpression") {
      const className = node.id?.name;
      for (const m of node.body.body) {
        if ((m.type !== "MethodDefinition" && m.type !== "PropertyDefinition") || m.computed || !m.value || !isFunction(m.value as AnyNode)) continue;
        const key = m.key.type === "Identifier" ? m.key.name : m.key.type === "Literal" ? String(m.key.value) : undefined;
        owners.set(m.value as AnyNode, { fn: m.value as FunctionNode, method: key, className });
      }
    }
  });
  full(program, (node) => {
    if (isFunction(node)) out.push(owners.get(node) ?? { fn: node as FunctionNode });
  });
  return out;
}

function pick(compiled: CompiledFile, live: FunctionNode, hint: SourceHint): FunctionNode | undefined {
  const want = shape(live, true);
  const matches = functionsOf(compiled.program).filter((c) => c.fn.params.length === live.params.length && shape(c.fn, true) === want);
  if (matches.length <= 1) return matches[0]?.fn;
  const lineOf = (c: Candidate) => {
    const o = compiled.toOriginal(c.fn.start);
    return o === undefined ? Infinity : compiled.position(o).line;
  };
  const score = (c: Candidate) => (c.method === "forward" ? (c.className === hint.className ? 0 : 1) : 2);
  const distance = (c: Candidate) => (hint.line === undefined ? 0 : Math.abs(lineOf(c) - hint.line));
  return matches.sort((a, b) => score(a) - score(b) || distance(a) - distance(b))[0]!.fn;
}

// Type-only text right after an expression (`x!`, `x as T`, `x satisfies T`) has no compiled
// counterpart to map to; a label that ends at the expression takes it along.
const TYPE_TAIL = /^(?:!|\s+(?:as|satisfies)\s+[\w$.<>[\]|&, '"]*[\w$>\]'"])+/;

/** A parsed forward whose text and positions are the user's own, from the original file. */
function fromFile(compiled: CompiledFile, fn: FunctionNode): ParsedForward {
  let last: FlowLoc = { ...compiled.position(compiled.toOriginal(fn.start) ?? 0), file: compiled.file };
  return {
    fn,
    slice(start, end) {
      // A trailing `;` may sit where a type was cut out: end the mapping at the last real character.
      let last = end - 1;
      while (last > start && /[\s;]/.test(compiled.code[last]!)) last--;
      const a = compiled.toOriginal(start);
      const b = compiled.toOriginal(last);
      const generated = compiled.code.slice(start, end);
      if (a === undefined || b === undefined || b < a) return generated;
      const stop = b + 1 + (TYPE_TAIL.exec(compiled.original.slice(b + 1, b + 1 + 200))?.[0].length ?? 0);
      const text = compiled.original.slice(a, stop);
      // A mapping that lands far off (mismatched types in between) would mislabel: keep the compiled text.
      return text.length <= generated.length * 3 + 40 ? text : generated;
    },
    loc(node) {
      const o = compiled.toOriginal(node.start);
      if (o !== undefined) last = { ...compiled.position(o), file: compiled.file };
      return last;
    },
  };
}

/** `forward` as written in the user's file, or undefined when it cannot be found there. */
export function originalForward(live: FunctionNode, hint: SourceHint): ParsedForward | undefined {
  for (const file of hint.files) {
    const compiled = compiledFile(file);
    const fn = compiled && pick(compiled, live, hint);
    if (fn) return fromFile(compiled, fn);
  }
  return undefined;
}
