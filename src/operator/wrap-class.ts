import { WRAPPED_CLASS } from "./brand.ts";
import type { SourceLocation } from "./source-location.ts";
import type { AnyClass, OperatorOptions } from "./types.ts";

export interface WrappedClassMeta {
  options: OperatorOptions;
  createdAt?: SourceLocation;
}


export function wrappedClassMeta(cls: unknown): WrappedClassMeta | undefined {
  return typeof cls === "function" ? (cls as any)[WRAPPED_CLASS] : undefined;
}

/**
 * Mark a class as an operator in place: `new Bar()` keeps building plain instances
 * (private fields, getters, statics, subclassing unchanged); the class only gains
 * non-enumerable statics such as `deploy`.
 */
export function wrapClass<C extends AnyClass>(cls: C, options: OperatorOptions, createdAt: SourceLocation | undefined, statics: Record<string, Function>): C {
  if (Object.prototype.hasOwnProperty.call(cls, WRAPPED_CLASS)) {
    (cls as any)[WRAPPED_CLASS].options = { ...(cls as any)[WRAPPED_CLASS].options, ...options };
    return cls;
  }
  for (const key of Object.keys(statics)) {
    if (Object.prototype.hasOwnProperty.call(cls, key)) {
      throw new TypeError(`operator(${cls.name}): the class already has a static "${key}"; rename it so nbox can add ${key}()`);
    }
  }
  Object.defineProperty(cls, WRAPPED_CLASS, { value: { options, createdAt } satisfies WrappedClassMeta });
  for (const [key, fn] of Object.entries(statics)) {
    Object.defineProperty(cls, key, { value: fn, enumerable: false, configurable: true, writable: true });
  }
  return cls;
}
