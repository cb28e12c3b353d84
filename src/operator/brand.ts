// Symbol.for keys: identity checks must survive two loaded copies of nbox.
export const OPERATOR_BRAND = Symbol.for("nbox.operator");
export const OPERATOR_STATE = Symbol.for("nbox.operator.state");
export const WRAPPED_CLASS = Symbol.for("nbox.wrappedClass");
/** On a prebuilt operator's prototype: flow shows its calls but does not analyse its forward. */
export const FLOW_LEAF = Symbol.for("nbox.flowLeaf");

export function isOperator(value: unknown): value is import("./operator.ts").Operator {
  return typeof value === "function" && (value as any)[OPERATOR_BRAND] === true;
}
