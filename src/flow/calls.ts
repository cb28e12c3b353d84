// Finding calls to child operators inside one statement or expression, in evaluation order
// (acorn-walk's full walk is post-order: arguments are visited before the call that uses them).
// Nested callbacks are included: `Promise.all(this.layers.map((l) => l(x)))` does call the layers.
import { full } from "../lib/lazy-acorn.ts";
import type { AnyNode } from "acorn";
import { memberKey, thisPath, type Aliases, type Segs } from "./paths.ts";
import type { Resolution } from "./resolve.ts";

export interface ChildCall {
  /** The call expression, or the `[op, args]` pair of a starMap. */
  node: AnyNode;
  resolution: Resolution;
}

export type ResolveSegs = (segs: Segs) => Resolution | undefined;

/** `starMap([[this.a, [x]], [this.b, [y]]])` (free function or method) calls each listed operator. */
function starMapPairs(call: Extract<AnyNode, { type: "CallExpression" }>, aliases: Aliases, resolve: ResolveSegs): ChildCall[] {
  const callee = call.callee as AnyNode;
  const isStarMap = (callee.type === "Identifier" && callee.name === "starMap") || memberKey(callee) === "starMap";
  const list = call.arguments[0] as AnyNode | undefined;
  if (!isStarMap || list?.type !== "ArrayExpression") return [];
  const out: ChildCall[] = [];
  for (const el of list.elements) {
    if (el?.type !== "ArrayExpression" || !el.elements[0]) continue;
    const segs = thisPath(el.elements[0] as AnyNode, aliases);
    const resolution = segs && resolve(segs);
    if (resolution) out.push({ node: el, resolution });
  }
  return out;
}

export function childCalls(root: AnyNode | null | undefined, aliases: Aliases, resolve: ResolveSegs): ChildCall[] {
  if (!root) return [];
  const out: ChildCall[] = [];
  full(root, (node) => {
    if (node.type !== "CallExpression") return;
    const pairs = starMapPairs(node, aliases, resolve);
    if (pairs.length > 0) {
      out.push(...pairs);
      return;
    }
    const segs = thisPath(node.callee as AnyNode, aliases);
    const resolution = segs && resolve(segs);
    if (resolution) out.push({ node, resolution });
  });
  return out;
}
