// Symbol.for keys: identity checks must survive two loaded copies of nbox.
export const OPERATOR_BRAND = Symbol.for("nbox.operator");
export const OPERATOR_STATE = Symbol.for("nbox.operator.state");
export const WRAPPED_CLASS = Symbol.for("nbox.wrappedClass");

export function isOperator(value: unknown): value is import("./operator.ts").Operator {
  return typeof value === "function" && (value as any)[OPERATOR_BRAND] === true;
}
