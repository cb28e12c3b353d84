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
  /**
   * Where the node starts: line 1-based, column 0-based. With `file`, in that file (the user's own
   * source); without, relative to forward's running source.
   */
  loc: FlowLoc;
  /** Enclosing branch/loop node, or the call node whose child forward this node belongs to. */
  parent?: string;
}

export interface FlowLoc {
  line: number;
  column: number;
  /** The source file the position is in, when forward was read from it. */
  file?: string;
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
  /** Where an operator's forward is written, so flow reads the user's own file (labels, lines) instead of compiled code. */
  locate?: (op: FlowSubject) => SourceHint | undefined;
}

/** Where to look for a forward's own source. */
export interface SourceHint {
  /** Files that may define it, most likely first. */
  files: string[];
  /** A line (1-based) near its definition: picks between identical functions in one file. */
  line?: number;
  /** The class whose method it is, when it is one. */
  className?: string;
}
