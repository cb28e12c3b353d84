// Flow: static analysis of an operator's `forward`. The Operator base calls buildFlow
// with itself and a childrenOf; `nbx flow` prints formatFlow's text.
export type {
  BuildFlowOptions,
  ChildrenOf,
  Flow,
  FlowEdge,
  FlowEdgeKind,
  FlowLoc,
  FlowNode,
  FlowNodeKind,
  FlowSubject,
  SourceHint,
} from "./types.ts";
export { buildFlow } from "./build.ts";
export { formatFlow } from "./format.ts";
