// What one job run calls on the target a worker process built: an operator itself, or `forward` of
// a wrapped class's instance (built once per process with `init`, like an Operator subclass).
import { isOperator } from "./brand.ts";
import { InstanceOperator } from "./function-operator.ts";

// One operator per instance, so every run of the process is traced under the same name.
const asOperator = new WeakMap<object, InstanceOperator>();

/** Run one job call on `target` (an Operator, or an object with `forward`). */
export function callAsJob(target: unknown, args: unknown[]): Promise<unknown> {
  if (isOperator(target)) return target(...args);
  if (target !== null && typeof target === "object" && typeof (target as { forward?: unknown }).forward === "function") {
    let op = asOperator.get(target);
    if (!op) asOperator.set(target, (op = new InstanceOperator(target, { name: target.constructor?.name }, undefined)));
    return op(...args);
  }
  return Promise.reject(new TypeError("the deployed object has no forward() method, so a job run has nothing to call; deploy it as a serving or add forward()"));
}
