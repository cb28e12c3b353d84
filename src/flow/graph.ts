// Node/edge store with ids handed out in creation order, so the same source gives the same ids.
import type { FlowEdge, FlowEdgeKind, FlowNode } from "./types.ts";

export class FlowGraph {
  readonly nodes: FlowNode[] = [];
  readonly edges: FlowEdge[] = [];
  readonly warnings: string[] = [];

  add(node: Omit<FlowNode, "id">): FlowNode {
    const full: FlowNode = { id: `n${this.nodes.length}`, ...node };
    if (full.parent === undefined) delete full.parent;
    if (full.op === undefined) delete full.op;
    this.nodes.push(full);
    return full;
  }

  link(from: string, to: string, kind: FlowEdgeKind, label?: string): void {
    this.edges.push(label === undefined ? { from, to, kind } : { from, to, kind, label });
  }
}
