import { OPERATOR_STATE } from "./brand.ts";
import { Operator } from "./operator.ts";
import { stateOf } from "./invoke.ts";
import type { SourceLocation } from "./source-location.ts";
import type { AnyFn, OperatorOptions } from "./types.ts";

/** The operator behind `operator(fn)`: `forward` is the user's function itself (so flow reads its source). */
export class FunctionOperator extends Operator {
  constructor(fn: AnyFn, options: OperatorOptions, createdAt: SourceLocation | undefined) {
    super();
    Object.defineProperty(this, "forward", { value: fn, enumerable: false, writable: false });
    const st = stateOf(this);
    st.name = options.name ?? (fn.name || "anonymous");
    st.kind = "fn";
    st.options = options;
    st.createdAt = createdAt;
    st.definedAt = createdAt;
  }
  /** The wrapped function. */
  get fn(): AnyFn {
    return (this as any).forward;
  }
}

/** The operator behind `operator(obj)`: calls go to `obj.forward`, methods stay reachable on `.target`. */
export class InstanceOperator<T extends object = object> extends Operator {
  constructor(readonly target: T, options: OperatorOptions, createdAt: SourceLocation | undefined) {
    super();
    const st = (this as any)[OPERATOR_STATE];
    st.name = options.name ?? target.constructor?.name ?? "instance";
    st.kind = "instance";
    st.options = options;
    st.createdAt = createdAt;
  }
  forward(...args: unknown[]): unknown {
    const fwd = (this.target as any).forward;
    if (typeof fwd !== "function") {
      throw new TypeError(`${stateOf(this).name} has no forward() method; call its methods through .target or deploy it as a serving`);
    }
    return fwd.apply(this.target, args);
  }
}
