import type { DagEdge } from "../trace/dag-recorder.ts";
import { stateOf } from "./invoke.ts";
import type { Operator } from "./operator.ts";
import { walkNamed } from "./tree.ts";

export interface DagNode {
  /** Dotted name; the root is shown by its own name. */
  name: string;
  type: string;
}
export interface Dag {
  root: string;
  nodes: DagNode[];
  /** parent → child calls seen in the last traced run rooted at this operator. */
  edges: DagEdge[];
}

export function buildDag(root: Operator): Dag {
  const rootName = stateOf(root).name;
  const nodes = [...walkNamed(root)].map(([path, op]) => ({ name: path || rootName, type: stateOf(op).name }));
  return { root: rootName, nodes, edges: stateOf(root).lastDag?.list() ?? [] };
}
