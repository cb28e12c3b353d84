// Public shapes of a flow: a static picture of what `forward` does, for `op.getFlow()` and `nbx flow`.
// Kept free of any Operator import so the Operator base can depend on this folder, not the reverse.

export type FlowNodeKind = "call" | "branch" | "loop" | "return" | "code";

export interface FlowNode {
  /** Stable id in creation order: n0, n1, … */
  id: string;
  kind: FlowNodeKind;
  /** Short source text (whitespace collapsed, ≤ 80 chars). */
  label: string;
  /** For calls: dotted operator name from the root ("b", "layers.0", "enc.tok", or "layers.*" for a dynamic element). */
  op?: string;
  /** Dotted name of the operator whose forward contains this node, "" for the root. */
  owner: string;
  /** Relative to the forward source: line is 1-based, column 0-based (acorn convention). */
  loc: { line: number; column: number };
  /** Enclosing branch/loop node, or the call node whose child forward this node belongs to. */
  parent?: string;
}

export type FlowEdgeKind = "next" | "then" | "else" | "body" | "loop-back" | "child";

export interface FlowEdge {
  from: string;
  to: string;
  kind: FlowEdgeKind;
  /** Only on switch arms ("case 1", "default") so renderers can name the arm. */
  label?: string;
}

export interface Flow {
  /** Root operator's class name. */
  root: string;
  nodes: FlowNode[];
  edges: FlowEdge[];
  warnings: string[];
}

/**
 * Any object; only `forward` is read from it. Extends Object so that objects without a declared
 * `forward` still type-check (a bare `{ forward?: unknown }` is a "weak type" TS would reject them for).
 */
export interface FlowSubject extends Object {
  forward?: unknown;
}

/** Direct children of an operator as [fieldPath, child]; fieldPath may itself be dotted ("layers.0"). */
export type ChildrenOf = (op: FlowSubject) => Array<[fieldPath: string, child: FlowSubject]>;

export interface BuildFlowOptions {
  name: string;
  childrenOf: ChildrenOf;
  /** Whether to analyse a child's own forward (false: it stays one call node, e.g. a library operator like Shell). Default: always. */
  expand?: (op: FlowSubject) => boolean;
}
