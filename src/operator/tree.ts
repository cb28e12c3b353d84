import { isOperator } from "./brand.ts";
import type { Operator } from "./operator.ts";

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== "object") return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Direct children with their field paths, in field insertion order.
 * Fields are scanned lazily (no setter trap): `this.b = new Doubler()` and
 * `this.layers = [a, b]` (→ `layers.0`, `layers.1`) both register without a Proxy.
 */
export function childEntries(op: object): Array<[string, Operator]> {
  const out: Array<[string, Operator]> = [];
  for (const key of Object.keys(op)) {
    const value = (op as Record<string, unknown>)[key];
    if (isOperator(value)) out.push([key, value]);
    else if (Array.isArray(value)) {
      value.forEach((v, i) => isOperator(v) && out.push([`${key}.${i}`, v]));
    } else if (value instanceof Map) {
      for (const [k, v] of value) if (isOperator(v)) out.push([`${key}.${String(k)}`, v]);
    } else if (isPlainObject(value)) {
      for (const [k, v] of Object.entries(value)) if (isOperator(v)) out.push([`${key}.${k}`, v]);
    }
  }
  return out;
}

/** Pre-order walk yielding `[dottedName, op]`; the root is `""`; a shared child appears once. */
export function* walkNamed(root: Operator, prefix = "", seen = new Set<object>()): Generator<[string, Operator]> {
  if (seen.has(root)) return;
  seen.add(root);
  yield [prefix, root];
  for (const [key, child] of childEntries(root)) {
    yield* walkNamed(child, prefix ? `${prefix}.${key}` : key, seen);
  }
}

/** torch-style tree print: `MyOperator(\n  (b): Doubler()\n)`. */
export function formatTree(op: Operator, nameOf: (op: Operator) => string, indent = "", seen = new Set<object>()): string {
  const children = childEntries(op);
  if (children.length === 0 || seen.has(op)) return `${nameOf(op)}()`;
  seen.add(op);
  const inner = indent + "  ";
  const lines = children.map(([key, child]) => `${inner}(${key}): ${formatTree(child, nameOf, inner, seen)}`);
  return `${nameOf(op)}(\n${lines.join("\n")}\n${indent})`;
}
