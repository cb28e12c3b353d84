/** Edges observed during one traced run of an operator tree (for `getDag()`). */
export interface DagEdge {
  from: string;
  to: string;
  count: number;
  totalMs: number;
}

export class DagRecorder {
  private readonly edges = new Map<string, DagEdge>();
  record(from: string, to: string, ms: number): void {
    const key = `${from}\u0000${to}`;
    const edge = this.edges.get(key);
    if (edge) {
      edge.count++;
      edge.totalMs += ms;
    } else this.edges.set(key, { from, to, count: 1, totalMs: ms });
  }
  list(): DagEdge[] {
    return [...this.edges.values()];
  }
}
