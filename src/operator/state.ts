import type { DagRecorder } from "../trace/dag-recorder.ts";
import type { SourceLocation } from "./source-location.ts";
import type { OperatorOptions } from "./types.ts";

/** Framework bookkeeping kept on each operator under a symbol (never an enumerable user field). */
export interface OperatorState {
  /** Display name: class name, or the wrapped function's name. */
  name: string;
  kind: "operator" | "fn" | "instance";
  options: OperatorOptions;
  /** Where the operator was built: the `new` call site, or the `operator(...)` call. */
  createdAt?: SourceLocation;
  /** Where its class is defined (Operator subclasses). */
  definedAt?: SourceLocation;
  /** Edges of the last traced run rooted at this operator. */
  lastDag?: DagRecorder;
  /** child instance → field path, rebuilt when a lookup misses (fields may be reassigned). */
  childNames?: Map<object, string>;
  /** `remoteInit()` of this operator, once started in this process (cleared if it fails). */
  remoteInit?: Promise<void>;
}
