// Which child operator(s) a this-path names. Resolution walks the operator tree lazily, so
// `this.enc.tok(...)` finds grandchild "enc.tok" and `this.layers[i](...)` finds every "layers.N".
import { ANY, type Segs } from "./paths.ts";
import type { ChildrenOf, FlowSubject } from "./types.ts";

export interface Target {
  /** Full dotted name from the root. */
  name: string;
  op: FlowSubject;
}

export interface Resolution {
  /** Name shown on the call node: concrete ("layers.0") or a pattern for dynamic access ("layers.*"). */
  op: string;
  targets: Target[];
}

/** Trailing members that still mean "call this operator": `.forward(x)`, fan-out `.map(xs)` / `.starMap(...)`. */
const CALL_SUFFIXES = new Set(["forward", "map", "starMap"]);

export class ChildIndex {
  private memo = new Map<unknown, Array<[string, FlowSubject]>>();

  constructor(
    private readonly childrenOf: ChildrenOf,
    private readonly warn: (msg: string) => void,
  ) {}

  /** childrenOf, memoised and made safe: a throwing or odd callback just means "no children". */
  children(op: FlowSubject): Array<[string, FlowSubject]> {
    const hit = this.memo.get(op);
    if (hit) return hit;
    let list: Array<[string, FlowSubject]> = [];
    try {
      const raw: unknown = this.childrenOf(op);
      if (Array.isArray(raw)) {
        list = raw.filter(
          (e): e is [string, FlowSubject] =>
            Array.isArray(e) && typeof e[0] === "string" && e[1] !== null && (typeof e[1] === "object" || typeof e[1] === "function"),
        );
      }
    } catch (e) {
      this.warn(`childrenOf threw: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.memo.set(op, list);
    return list;
  }

  private match(op: FlowSubject, segs: Segs, depth = 0): Array<{ segs: Segs; op: FlowSubject }> {
    if (segs.length === 0 || depth > 64) return [];
    const out: Array<{ segs: Segs; op: FlowSubject }> = [];
    for (const [fieldPath, child] of this.children(op)) {
      const fps = fieldPath.split(".");
      if (fps.length > segs.length) continue;
      if (!fps.every((s, i) => segs[i] === ANY || segs[i] === s)) continue;
      const rest = segs.slice(fps.length);
      if (rest.length === 0) out.push({ segs: fps, op: child });
      else for (const m of this.match(child, rest, depth + 1)) out.push({ segs: [...fps, ...m.segs], op: m.op });
    }
    return out;
  }

  /** Resolves a callee path inside `owner`'s forward; undefined when it is not a child operator. */
  resolve(owner: { name: string; op: FlowSubject }, segs: Segs): Resolution | undefined {
    // `this[k](...)` could be anything (often method dispatch): only resolve from a concrete field.
    if (segs.length === 0 || segs[0] === ANY) return undefined;
    let used = segs;
    let found = this.match(owner.op, used);
    if (found.length === 0 && segs.length > 1 && CALL_SUFFIXES.has(segs[segs.length - 1]!)) {
      used = segs.slice(0, -1);
      found = this.match(owner.op, used);
    }
    if (found.length === 0) return undefined;
    const prefix = owner.name ? owner.name + "." : "";
    const targets: Target[] = [];
    for (const f of found) {
      if (!targets.some((t) => t.op === f.op)) targets.push({ name: prefix + f.segs.join("."), op: f.op });
    }
    const op = used.includes(ANY) ? prefix + used.join(".") : targets[0]!.name;
    return { op, targets };
  }
}
