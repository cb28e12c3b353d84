import { DagRecorder } from "../trace/dag-recorder.ts";
import { MapItemError } from "./fan-out.ts";
import type { ActiveSpan } from "../trace/span.ts";
import { getTracer, type TraceFrame, type Tracer } from "../trace/tracer.ts";
import { OPERATOR_STATE } from "./brand.ts";
import type { Operator } from "./operator.ts";
import type { OperatorState } from "./state.ts";
import { childEntries } from "./tree.ts";

const tracingOff = process.env.NBOX_TRACE === "0";
// The engine's own promise and `then`, whatever the global `Promise` is now (an app may swap in a
// library's): its reactions run in the trace context they were attached in, which the settle
// callbacks below rely on. An async function always returns one of these.
const NativePromise = (async () => {})().constructor as PromiseConstructor;
const nativeThen = NativePromise.prototype.then;

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

/** What ending an operator call's span needs, kept on its frame (no closure per call). */
interface CallFrame extends TraceFrame {
  parent: TraceFrame | undefined;
  isChild: boolean;
  /** The fan-out this call is item `index` of (`invokeAll`), told of its outcome directly. */
  join: Join | undefined;
  index: number;
}

/** Results of a fan-out in item order; the first failure rejects it, naming its item. */
class Join {
  private left: number;
  private done = false;
  readonly results: unknown[];
  constructor(total: number, private readonly resolve: (results: unknown[]) => void, private readonly reject: (err: unknown) => void) {
    this.left = total;
    this.results = new Array(total);
  }
  ok(index: number, value: unknown): void {
    if (this.done) return;
    this.results[index] = value;
    if (--this.left === 0) {
      this.done = true;
      this.resolve(this.results);
    }
  }
  fail(index: number, err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.reject(new MapItemError(index, err));
  }
}

function finish(tracer: Tracer, frame: CallFrame, err: unknown): void {
  const done = tracer.endSpan(frame.span, err);
  if (frame.isChild) {
    const box = frame.dag!;
    (box.recorder ??= new DagRecorder()).record(frame.parent!.path || box.rootName, frame.path, done.end - done.start);
  } else stateOf(frame.owner as Operator).lastDag = frame.dag?.recorder;
}

// The settle callbacks of an async forward are shared module-level functions, not closures per
// call: they are attached inside the call's frame, so they run with that frame as the current
// trace context and find it there. A fan-out of 100k calls holds every one of them at once.
function settledOk(value: unknown): unknown {
  const tracer = getTracer();
  const frame = tracer.currentFrame() as CallFrame;
  endQuietly(tracer, frame, undefined);
  frame.join?.ok(frame.index, value);
  return value;
}

function settledErr(err: unknown): unknown {
  const tracer = getTracer();
  const frame = tracer.currentFrame() as CallFrame;
  endQuietly(tracer, frame, err ?? new Error("forward rejected with undefined"));
  // A fan-out's item hands its failure to the fan-out; this promise is nobody's, so it must not reject.
  if (frame.join) return frame.join.fail(frame.index, err);
  throw err;
}

/** Tracing is bookkeeping: a failure to end a span must not replace the call's outcome or strand a fan-out. */
function endQuietly(tracer: Tracer, frame: CallFrame, err: unknown): void {
  try {
    finish(tracer, frame, err);
  } catch (e) {
    process.emitWarning(`nbox tracing: a span could not be ended (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** Runs inside the call's frame: `forward`, and for a thenable result the settle callbacks. */
function callForward(op: any, args: unknown[]): unknown {
  const out = op.forward(...args);
  if (!isThenable(out)) return out;
  // A native promise is chained directly: wrapping it would add a tick.
  return nativeThen.call(out instanceof NativePromise ? out : NativePromise.resolve(out), settledOk, settledErr);
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
      return NativePromise.resolve((op as any).forward(...args));
    } catch (err) {
      return NativePromise.reject(err);
    }
  }
  const tracer = getTracer();
  const frame = enter(tracer, op, undefined, 0);
  let out: unknown;
  try {
    out = tracer.runInFrame(frame, callForward, op, args);
  } catch (err) {
    endQuietly(tracer, frame, err ?? new Error("forward threw undefined"));
    return NativePromise.reject(err);
  }
  // A thenable result came back chained to the settle callbacks (a promise of ours).
  if (isThenable(out)) return out as Promise<unknown>;
  endQuietly(tracer, frame, undefined);
  return NativePromise.resolve(out);
}

/**
 * `total` traced calls, `argsOf(i)` each, results in item order; rejects with `MapItemError` at the
 * first failure. What `Promise.all` over `invoke` gives, for a fan-out's common case, without a
 * promise reaction per item on top of each call's own: every item of a large fan-out is alive at
 * once, so what each one holds is what the fan-out costs.
 */
export function invokeAll(op: Operator, total: number, argsOf: (index: number) => unknown[]): Promise<unknown[]> {
  return new NativePromise((resolve, reject) => {
    const join = new Join(total, resolve, reject);
    if (total === 0) return resolve([]);
    if (tracingOff) {
      for (let i = 0; i < total; i++) {
        nativeThen.call(invoke(op, argsOf(i)), (v: unknown) => join.ok(i, v), (err: unknown) => join.fail(i, err));
      }
      return;
    }
    const tracer = getTracer();
    for (let i = 0; i < total; i++) {
      const frame = enter(tracer, op, join, i);
      let out: unknown;
      try {
        out = tracer.runInFrame(frame, callForward, op, argsOf(i));
      } catch (err) {
        endQuietly(tracer, frame, err ?? new Error("forward threw undefined"));
        join.fail(i, err);
        continue;
      }
      if (isThenable(out)) continue; // told through the settle callbacks
      endQuietly(tracer, frame, undefined);
      join.ok(i, out);
    }
  });
}

/** The frame of a new call of `op`: its span opened under the current one, its place in the tree. */
function enter(tracer: Tracer, op: Operator, join: Join | undefined, index: number): CallFrame {
  const parent = tracer.currentFrame();
  const st = stateOf(op);
  const key = parent?.owner !== undefined ? childName(parent.owner as Operator, op) : undefined;
  const isChild = key !== undefined;
  const path = isChild ? (parent!.path ? `${parent!.path}.${key}` : key) : "";
  const span: ActiveSpan = tracer.openSpan(path || st.name, st.name, parent ? parent.span : tracer.rootParent);
  // The DAG box of a root call is made by its first child call (leaf calls never need one).
  if (isChild) parent!.dag ??= { recorder: undefined, rootName: parent!.path || stateOf(parent!.owner as Operator).name };
  return { span, owner: op, path, dag: isChild ? parent!.dag : undefined, parent, isChild, join, index };
}
