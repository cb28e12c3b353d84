// formatFlow: the indented text tree printed by `nbx flow`. Nodes follow "next" chains; arms, loop
// bodies and child forwards are indented under the node that owns them, e.g.
//   MyOperator
//     code let y = this.a + x  (line 2)
//     call b  (line 3)
//       return x * this.k  (line 1)
//     branch if (y > 0)  (line 4)
//       then:
//         return y  (line 5)
import { basename } from "node:path";
import type { Flow, FlowEdge, FlowNode } from "./types.ts";

export function formatFlow(flow: Flow): string {
  const byId = new Map<string, FlowNode>(flow.nodes.map((n) => [n.id, n]));
  const outgoing = new Map<string, FlowEdge[]>();
  for (const e of flow.edges) {
    const list = outgoing.get(e.from) ?? [];
    list.push(e);
    outgoing.set(e.from, list);
  }
  const edgesOf = (id: string, ...kinds: FlowEdge["kind"][]) => (outgoing.get(id) ?? []).filter((e) => kinds.includes(e.kind));
  const lines: string[] = [flow.root];
  // A forward known only from its compiled one-line text has no useful line numbers: leave them out.
  const showLines = flow.nodes.some((n) => n.loc.file !== undefined || n.loc.line > 1);
  // Lines are in the root's file unless a node says otherwise (a child defined elsewhere).
  const rootFile = flow.nodes.find((n) => n.loc.file !== undefined)?.loc.file;
  const printed = new Set<string>();

  function sequence(start: string, depth: number): void {
    let id: string | undefined = start;
    while (id !== undefined && !printed.has(id)) {
      node(id, depth);
      id = edgesOf(id, "next")[0]?.to;
    }
  }

  function node(id: string, depth: number): void {
    printed.add(id);
    const n = byId.get(id);
    if (!n) return;
    const pad = "  ".repeat(depth);
    const where = !showLines ? "" : n.loc.file && n.loc.file !== rootFile ? `  (${basename(n.loc.file)}:${n.loc.line})` : `  (line ${n.loc.line})`;
    switch (n.kind) {
      case "call": {
        const children = edgesOf(id, "child");
        const own = children.filter((e) => byId.get(e.to)?.parent === id);
        const elsewhere = children.filter((e) => byId.get(e.to)?.parent !== id);
        const note = elsewhere.length > 0 ? `  (expanded above: ${elsewhere.map((e) => byId.get(e.to)?.owner || flow.root).join(", ")})` : "";
        lines.push(`${pad}call ${n.op ?? n.label}${where}${note}`);
        for (const e of own) {
          const owner = byId.get(e.to)?.owner ?? "";
          // Name the child when the call node's op does not already (dynamic "layers.*" calls).
          if (own.length > 1 || owner !== n.op) {
            lines.push(`${pad}  ${owner}:`);
            sequence(e.to, depth + 2);
          } else sequence(e.to, depth + 1);
        }
        return;
      }
      case "branch":
      case "loop": {
        lines.push(`${pad}${n.kind} ${n.label}${where}`);
        for (const e of edgesOf(id, "then", "else", "body")) {
          lines.push(`${pad}  ${e.label ?? e.kind}:`);
          sequence(e.to, depth + 2);
        }
        return;
      }
      case "return":
        lines.push(`${pad}${n.label}${where}`);
        return;
      default:
        lines.push(`${pad}code ${n.label}${where}`);
    }
  }

  const top = flow.nodes.find((n) => n.parent === undefined);
  if (top) sequence(top.id, 1);
  else lines.push("  (no nodes)");
  for (const w of flow.warnings) lines.push(`warning: ${w}`);
  return lines.join("\n");
}
