// buildFlow: analyse the root's forward, and recursively the forward of every child operator it
// calls. Each distinct operator (by identity) is expanded once, under its first call; later calls
// to it (shared children, repeated calls, cycles) get a "child" edge to the existing nodes instead.
import { FlowGraph } from "./graph.ts";
import { ChildIndex, type Resolution, type Target } from "./resolve.ts";
import { originalForward } from "./original.ts";
import { parseForward, readForwardSource, type ParsedForward } from "./source.ts";
import type { BuildFlowOptions, Flow, FlowNode, FlowSubject } from "./types.ts";
import { ForwardWalker } from "./walker.ts";

/** First top-level node of an expanded forward; set as soon as it exists (cycles can point at it mid-walk). */
interface Expansion {
  first?: string;
}

function className(op: FlowSubject): string {
  try {
    const name = (op as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === "string" && name ? name : "?";
  } catch {
    return "?";
  }
}

export function buildFlow(root: FlowSubject, opts: BuildFlowOptions): Flow {
  const graph = new FlowGraph();
  const expansions = new Map<unknown, Expansion>();
  let current = "";
  const index = new ChildIndex(opts.childrenOf, (msg) => graph.warnings.push(`flow: ${who(current)}: ${msg}`));

  function who(name: string): string {
    return name ? `operator "${name}"` : `root operator ${opts.name}`;
  }

  function expand(callNode: FlowNode, resolution: Resolution): void {
    for (const t of resolution.targets) {
      if (opts.expand && !opts.expand(t.op)) continue;
      const seen = expansions.get(t.op);
      if (seen) {
        if (seen.first) graph.link(callNode.id, seen.first, "child");
        continue;
      }
      analyse(t, callNode.id);
    }
  }

  function analyse(target: Target, parent: string | undefined): void {
    const exp: Expansion = {};
    expansions.set(target.op, exp);
    const label = `${who(target.name)} (${className(target.op)})`;
    const src = readForwardSource(target.op);
    if (!src.ok) {
      graph.warnings.push(`flow: ${label}: ${src.reason}`);
      return;
    }
    const parsed = parseForward(src.source);
    if (!parsed.ok) {
      graph.warnings.push(`flow: ${label}: cannot parse forward: ${parsed.reason}`);
      return;
    }
    const own = ownSource(parsed.parsed, target.op);
    const outer = current;
    current = target.name;
    try {
      const walker = new ForwardWalker({
        graph,
        owner: target.name,
        parsed: own ?? parsed.parsed,
        resolve: (segs) => index.resolve(target, segs),
        onCall: expand,
      });
      walker.run(parent, (id) => {
        exp.first = id;
        if (parent !== undefined) graph.link(parent, id, "child");
      });
    } catch (e) {
      // A bug or an AST shape we did not foresee: keep what we have, never throw at the caller.
      graph.warnings.push(`flow: ${label}: analysis failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      current = outer;
    }
  }

  /** The same forward read from the user's file (their text and lines), when it can be found there. */
  function ownSource(running: ParsedForward, op: FlowSubject): ParsedForward | undefined {
    try {
      const hint = opts.locate?.(op);
      return hint ? originalForward(running.fn, hint) : undefined;
    } catch {
      return undefined; // the running code is still a faithful picture
    }
  }

  analyse({ name: "", op: root }, undefined);
  return { root: opts.name, nodes: graph.nodes, edges: graph.edges, warnings: graph.warnings };
}
