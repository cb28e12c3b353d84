import { DagRecorder } from "../trace/dag-recorder.ts";
import type { ActiveSpan } from "../trace/span.ts";
import { getTracer, type TraceFrame, type Tracer } from "../trace/tracer.ts";
import { OPERATOR_STATE } from "./brand.ts";
import type { Operator } from "./operator.ts";
import type { OperatorState } from "./state.ts";
import { childEntries } from "./tree.ts";

const tracingOff = process.env.NBOX_TRACE === "0";

export function stateOf(op: Operator): OperatorState {
  return (op as any)[OPERATOR_STATE] as OperatorState;
}

/** Field path of `child` inside `owner`, or undefined when it is not a direct child. */
function childName(owner: Operator, child: Operator): string | undefined {
  const st = stateOf(owner);
  let name = st.childNames?.get(child);
  if (name === undefined) {
    // Miss: fields may have changed since the last lookup, so rebuild once.
    // First path wins for a child shared under two names, as in namedOperators().
    const names = new Map<object, string>();
    for (const [k, v] of childEntries(owner)) if (!names.has(v)) names.set(v, k);
    st.childNames = names;
    name = names.get(child);
  }
  return name;
}

// Module-level helpers instead of per-call closures: this is the hot path of every call.
function callForward(op: any, args: unknown[]): unknown {
  return op.forward(...args);
}

function finish(tracer: Tracer, st: OperatorState, frame: TraceFrame, parent: TraceFrame | undefined, isChild: boolean, err: unknown): void {
  const span = frame.span;
  const done = tracer.endSpan(span, err);
  if (isChild) {
    const box = frame.dag!;
    (box.recorder ??= new DagRecorder()).record(parent!.path || box.rootName, frame.path, done.end - done.start);
  } else st.lastDag = frame.dag?.recorder;
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return x !== null && typeof x === "object" && typeof (x as PromiseLike<unknown>).then === "function";
}

/**
 * Run `op.forward(...args)` as a traced call. The span's path follows the operator tree
 * (AsyncLocalStorage, so concurrent children nest correctly); a call that is not a child
 * of the running operator starts its own DAG.
 */
export function invoke(op: Operator, args: unknown[]): Promise<any> {
  if (tracingOff) {
    try {
      return Promise.resolve((op as any).forward(...args));
    } catch (err) {
      return Promise.reject(err);
    }
  }
  const tracer = getTracer();
  const parent = tracer.currentFrame();
  const st = stateOf(op);
  const key = parent?.owner !== undefined ? childName(parent.owner as Operator, op) : undefined;
  const isChild = key !== undefined;
  const path = isChild ? (parent!.path ? `${parent!.path}.${key}` : key) : "";
  const span: ActiveSpan = tracer.openSpan(path || st.name, st.name, parent ? parent.span : tracer.rootParent);
  // The DAG box of a root call is made by its first child call (leaf calls never need one).
  if (isChild) parent!.dag ??= { recorder: undefined, rootName: parent!.path || stateOf(parent!.owner as Operator).name };
  const frame: TraceFrame = { span, owner: op, path, dag: isChild ? parent!.dag : undefined };
  let out: unknown;
  try {
    out = tracer.runInFrame(frame, callForward, op, args);
  } catch (err) {
    finish(tracer, st, frame, parent, isChild, err ?? new Error("forward threw undefined"));
    return Promise.reject(err);
  }
  if (isThenable(out)) {
    // A native promise is chained directly: Promise.resolve() around it would add a tick.
    return (out instanceof Promise ? out : Promise.resolve(out)).then(
      (v) => {
        finish(tracer, st, frame, parent, isChild, undefined);
        return v;
      },
      (err) => {
        finish(tracer, st, frame, parent, isChild, err ?? new Error("forward rejected with undefined"));
        throw err;
      },
    );
  }
  finish(tracer, st, frame, parent, isChild, undefined);
  return Promise.resolve(out);
}
