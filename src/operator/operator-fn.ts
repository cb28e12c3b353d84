import { isOperator } from "./brand.ts";
import { FunctionOperator, InstanceOperator } from "./function-operator.ts";
import { stateOf } from "./invoke.ts";
import type { Operator } from "./operator.ts";
import { callerLocation } from "./source-location.ts";
import { wrapClass } from "./wrap-class.ts";
import { classStatics } from "./class-statics.ts";
import type { AnyClass, AnyFn, OperatorOptions } from "./types.ts";

/** A function wrapped by `operator(fn)`: callable like `fn` (always async), plus the Operator API. */
export type FnOperator<F extends AnyFn> = FunctionOperator & { forward: F; readonly fn: F };
/** A class wrapped by `operator(Class)`: constructs normal instances, gains static `deploy`. */
export type WrappedClass<C extends AnyClass> = C & ReturnType<typeof classStatics<C>>;
/** An already-built object wrapped by `operator(obj)`. */
export type ObjectOperator<T extends object> = InstanceOperator<T> & { forward: T extends { forward: infer F } ? F : never };

type ClassDecorator = <C extends AnyClass>(cls: C, context?: ClassDecoratorContext) => WrappedClass<C>;

const BUILTIN_SOURCE = /\{\s*\[native code\]\s*\}\s*$/;

function isClass(fn: Function): boolean {
  return /^class[\s{]/.test(Function.prototype.toString.call(fn));
}

/** Options are a plain object of data; a plain object with methods (`{ forward() {…} }`) is an instance to wrap. */
function isOptions(x: unknown): x is OperatorOptions {
  if (x === undefined) return true;
  if (x === null || typeof x !== "object") return false;
  const proto = Object.getPrototypeOf(x);
  if (proto !== Object.prototype && proto !== null) return false;
  return !Object.values(x).some((v) => typeof v === "function");
}

function isDecoratorContext(x: unknown): x is ClassDecoratorContext {
  return typeof x === "object" && x !== null && (x as { kind?: unknown }).kind === "class";
}

function describe(x: unknown): string {
  if (x === null) return "null";
  if (typeof x === "object") return `a ${(x as object).constructor?.name ?? "null-prototype"} object`;
  return `a ${typeof x}`;
}

/**
 * Wrap a function (a job by default), a class (a serving by default) or a built object as an operator.
 * @example
 * export const foo = operator(function foo(i = 4) { return i * i })
 * await foo() // 16
 * @example
 * \@operator() class Bar { x = 1; inc() { this.x++ } }
 */
export function operator<O extends Operator>(op: O, opts?: OperatorOptions): O;
// `F extends Function`, not AnyFn: a constraint with `...args: any[]` contextually types every
// unannotated parameter as `any`, so `operator(function foo(i = 4) {…})` typed `foo("x")` as fine.
export function operator<F extends Function>(fn: F, opts?: OperatorOptions): F extends AnyClass ? WrappedClass<F> : F extends AnyFn ? FnOperator<F> : never;
export function operator<C extends AnyClass>(cls: C, opts?: OperatorOptions): WrappedClass<C>;
// Before the object overload, or `@operator({ name })` typed as wrapping the options object.
export function operator(opts?: OperatorOptions): ClassDecorator;
export function operator<T extends object>(instance: T, opts?: OperatorOptions): ObjectOperator<T>;
export function operator(target?: unknown, second?: unknown): unknown {
  const createdAt = callerLocation();
  if (typeof target === "function") {
    if (isDecoratorContext(second)) return wrapAny(target, {}, createdAt);
    if (!isOptions(second)) throw new TypeError(`operator(x, opts): opts must be a plain options object, got ${describe(second)}`);
    return wrapAny(target, second ?? {}, createdAt);
  }
  if (isOptions(target)) {
    // `@operator(opts)`: return the decorator (TC39 decorators, or called by hand).
    const options = target ?? {};
    return (cls: unknown, context?: unknown) => {
      if (context !== undefined && !isDecoratorContext(context)) {
        throw new TypeError(`@operator() decorates classes only; it was applied to a ${(context as { kind?: string }).kind ?? "non-class"}`);
      }
      return wrapAny(cls, options, createdAt);
    };
  }
  if (typeof target === "object" && target !== null && !(target instanceof Promise)) {
    if (!isOptions(second)) throw new TypeError(`operator(obj, opts): opts must be a plain options object, got ${describe(second)}`);
    return new InstanceOperator(target, second ?? {}, createdAt);
  }
  throw new TypeError(
    `operator() wraps a function, a class or an object, got ${target instanceof Promise ? "a Promise (await it first)" : describe(target)}`,
  );
}

function wrapAny(target: unknown, options: OperatorOptions, createdAt: ReturnType<typeof callerLocation>): unknown {
  if (typeof target !== "function") throw new TypeError(`operator() wraps a function or a class, got ${describe(target)}`);
  if (isOperator(target)) {
    Object.assign(stateOf(target).options, options);
    return target;
  }
  if (BUILTIN_SOURCE.test(Function.prototype.toString.call(target))) {
    throw new TypeError(
      `operator(${target.name || "fn"}): built-in or bound functions cannot be wrapped (their source is not available to workers); wrap a function of your own that calls it`,
    );
  }
  if (isClass(target)) {
    // An Operator subclass is already an operator class: nothing to add.
    if ((target as any).prototype && isOperatorClass(target)) return target;
    return wrapClass(target as AnyClass, options, createdAt, classStatics(target as AnyClass));
  }
  return new FunctionOperator(target as AnyFn, options, createdAt);
}

function isOperatorClass(cls: Function): boolean {
  return (cls.prototype as any)?.[Symbol.for("nbox.operator")] === true;
}
