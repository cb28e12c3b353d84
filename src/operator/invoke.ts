import { DagRecorder } from "../trace/dag-recorder.ts";
import { getTracer, type TraceFrame } from "../trace/tracer.ts";
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
  const key = parent?.owner && parent.dag ? childName(parent.owner as Operator, op) : undefined;
  const isChild = key !== undefined;
  const path = isChild ? (parent!.path ? `${parent!.path}.${key}` : key) : "";
  const dag = isChild ? parent!.dag! : new DagRecorder();
  const span = tracer.startSpan(path || st.name, st.name);
  const frame: TraceFrame = { span, owner: op, path, dag };
  const finish = (err?: unknown) => {
    const done = err === undefined ? tracer.endSpan(span) : tracer.endSpan(span, err);
    if (isChild) dag.record(parent!.path || stateOf(parent!.owner as Operator).name, path, done.end - done.start);
    else st.lastDag = dag;
  };
  let out: unknown;
  try {
    out = tracer.runInFrame(frame, () => (op as any).forward(...args));
  } catch (err) {
    finish(err);
    return Promise.reject(err);
  }
  if (out !== null && typeof out === "object" && typeof (out as PromiseLike<unknown>).then === "function") {
    return Promise.resolve(out).then(
      (v) => (finish(), v),
      (err) => {
        finish(err);
        throw err;
      },
    );
  }
  finish();
  return Promise.resolve(out);
}
