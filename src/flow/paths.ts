// "This-paths": which field of `this` an expression denotes, as segments ("layers", "0").
// A dynamic index becomes "*". Local aliases (`const b = this.b`, `for (const l of this.layers)`,
// `this.layers.map(l => …)`) map a variable name to a path; they are function-wide by name
// (shadowing is ignored: good enough for a picture of forward, not a type checker).
import { full } from "../lib/lazy-acorn.ts";
import type { AnyNode } from "acorn";

export type Segs = string[];
export type Aliases = Map<string, Segs>;

export const ANY = "*";

/** Array methods whose callback receives the elements (index of the element parameter). */
const ELEMENT_CALLBACKS = new Map<string, number>([
  ["map", 0], ["forEach", 0], ["flatMap", 0], ["filter", 0], ["some", 0], ["every", 0],
  ["find", 0], ["findIndex", 0], ["findLast", 0], ["reduce", 1], ["reduceRight", 1],
]);

/** Key of a member access as a segment, or ANY when computed from a non-literal. */
export function memberKey(node: AnyNode): string | undefined {
  if (node.type !== "MemberExpression") return undefined;
  const p = node.property as AnyNode;
  if (!node.computed) {
    if (p.type === "Identifier") return p.name;
    if (p.type === "PrivateIdentifier") return `#${p.name}`;
    return undefined;
  }
  if (p.type === "Literal" && (typeof p.value === "string" || typeof p.value === "number")) return String(p.value);
  if (p.type === "TemplateLiteral" && p.expressions.length === 0) return p.quasis[0]?.value.cooked ?? ANY;
  return ANY;
}

/** Strips wrappers that don't change which value is meant. */
export function unwrap(node: AnyNode): AnyNode {
  let n = node;
  for (;;) {
    if (n.type === "ChainExpression" || n.type === "ParenthesizedExpression") {
      n = n.expression as AnyNode;
    } else if (n.type === "AwaitExpression") {
      n = n.argument as AnyNode;
    } else if (n.type === "UnaryExpression" && n.operator === "void") {
      n = n.argument as AnyNode;
    } else return n;
  }
}

export function thisPath(node: AnyNode, aliases: Aliases): Segs | undefined {
  const n = unwrap(node);
  if (n.type === "ThisExpression") return [];
  if (n.type === "Identifier") return aliases.get(n.name);
  if (n.type === "MemberExpression") {
    const base = thisPath(n.object as AnyNode, aliases);
    const key = memberKey(n);
    return base && key !== undefined ? [...base, key] : undefined;
  }
  return undefined;
}

/** Path of a collection being iterated: `this.layers`, `this.layers.values()`, `Object.values(this.layers)`. */
function iteratedPath(node: AnyNode, aliases: Aliases): Segs | undefined {
  const n = unwrap(node);
  if (n.type === "CallExpression") {
    const callee = n.callee as AnyNode;
    const key = memberKey(callee);
    if (callee.type === "MemberExpression" && (key === "values" || key === "entries")) {
      const obj = callee.object as AnyNode;
      if (obj.type === "Identifier" && obj.name === "Object" && n.arguments[0]) {
        return thisPath(n.arguments[0] as AnyNode, aliases);
      }
      return thisPath(obj, aliases);
    }
    return undefined;
  }
  return thisPath(n, aliases);
}

/** The binding that receives each element: `l`, or `l` in `[i, l]` (entries()). */
function elementBinding(pattern: AnyNode): string | undefined {
  if (pattern.type === "VariableDeclaration") {
    const id = pattern.declarations[0]?.id;
    return id ? elementBinding(id as AnyNode) : undefined;
  }
  if (pattern.type === "Identifier") return pattern.name;
  if (pattern.type === "ArrayPattern") {
    const last = pattern.elements[pattern.elements.length - 1];
    return last?.type === "Identifier" ? last.name : undefined;
  }
  return undefined;
}

function setAlias(aliases: Aliases, name: string, segs: Segs): boolean {
  const prev = aliases.get(name);
  if (prev && prev.join(".") === segs.join(".")) return false;
  aliases.set(name, segs);
  return true;
}

/** Collects aliases across the whole function (fixpoint, since aliases can chain). */
export function collectAliases(fn: AnyNode): Aliases {
  const aliases: Aliases = new Map();
  for (let pass = 0; pass < 4; pass++) {
    let changed = false;
    full(fn, (node) => {
      if (node.type === "VariableDeclarator" && node.init) {
        const id = node.id as AnyNode;
        const p = thisPath(node.init as AnyNode, aliases);
        if (!p) return;
        if (id.type === "Identifier") changed = setAlias(aliases, id.name, p) || changed;
        else if (id.type === "ObjectPattern") {
          for (const prop of id.properties) {
            if (prop.type !== "Property") continue;
            const key = prop.key as AnyNode;
            const k = !prop.computed && key.type === "Identifier" ? key.name : key.type === "Literal" ? String(key.value) : undefined;
            let v = prop.value as AnyNode;
            if (v.type === "AssignmentPattern") v = v.left as AnyNode;
            if (k !== undefined && v.type === "Identifier") changed = setAlias(aliases, v.name, [...p, k]) || changed;
          }
        }
      } else if (node.type === "ForOfStatement") {
        const p = iteratedPath(node.right as AnyNode, aliases);
        const name = elementBinding(node.left as AnyNode);
        if (p && name) changed = setAlias(aliases, name, [...p, ANY]) || changed;
      } else if (node.type === "CallExpression") {
        const callee = node.callee as AnyNode;
        const key = memberKey(callee);
        const idx = key !== undefined ? ELEMENT_CALLBACKS.get(key) : undefined;
        if (idx === undefined || callee.type !== "MemberExpression") return;
        const p = thisPath(callee.object as AnyNode, aliases);
        const cb = node.arguments[0] as AnyNode | undefined;
        if (!p || !cb || (cb.type !== "ArrowFunctionExpression" && cb.type !== "FunctionExpression")) return;
        const param = cb.params[idx] as AnyNode | undefined;
        if (param?.type === "Identifier") changed = setAlias(aliases, param.name, [...p, ANY]) || changed;
      }
    });
    if (!changed) break;
  }
  return aliases;
}
