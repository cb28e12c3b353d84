// The type of a serving's remote handle, derived from the served class (or Operator).
import type { ParamInfo } from "../operator/signature.ts";
import type { AnyFn } from "../operator/types.ts";
import type { ClassSurface } from "./class-surface.ts";

/** Names a serving never answers (framework methods, Object plumbing): left out of the remote type. */
type Unreachable =
  | "constructor" | "toString" | "toLocaleString" | "valueOf" | "hasOwnProperty" | "isPrototypeOf" | "propertyIsEnumerable"
  | "deploy" | "map" | "starMap" | "remoteInit" | "triggerRemoteInit" | "children" | "namedOperators" | "operators"
  | "propagate" | "thaw" | "getDag" | "getFlow";

type Visible<T> = { [K in keyof T as K extends `_${string}` | `$${string}` | Unreachable ? never : K]: T[K] };
type FieldKeys<T> = { [K in keyof Visible<T>]: T[K] extends AnyFn ? never : K }[keyof Visible<T>];

/** A served Operator (anything with `forward`) is called like the local one: `await remote(5)`. */
type ForwardCall<T> = T extends { forward: infer F extends AnyFn } ? (...args: Parameters<F>) => Promise<Awaited<ReturnType<F>>> : unknown;

/**
 * `RemoteServing<Bar>`: every method returns a Promise of its result, every field read is awaitable,
 * and a served Operator is callable with `forward`'s types. `RemoteServing<any>` is `any`.
 */
export type RemoteServing<T> = 0 extends 1 & T ? any : ServingOf<T>;

type ServingOf<T> = ForwardCall<T> & {
  [K in keyof Visible<T>]: T[K] extends (...a: infer A) => AsyncGenerator<infer Y, any, any> | Generator<infer Y, any, any>
    ? (...args: A) => AsyncIterable<Y> & PromiseLike<Y[]>
    : T[K] extends (...a: infer A) => infer R
      ? (...args: A) => Promise<Awaited<R>>
      : PromiseLike<T[K]>;
} & {
  /** Set a public field on the remote instance. */
  $set<K extends FieldKeys<T>>(key: K, value: T[K]): Promise<void>;
  readonly $url: string;
  readonly $token: string;
  /** `{ name, kind, methods, fields, version, forward }` of the serving. */
  $whoAreYou(): Promise<WhoAreYou>;
};

export type MethodKind = ClassSurface["methods"][string]["kind"];

/** How one method (or `forward`) of a serving is called. */
export interface MethodInfo {
  params: ParamInfo[];
  /** Arguments a call must pass. */
  minArgs: number;
  /** null = no limit (rest parameter or unknown source). */
  maxArgs: number | null;
  kind: MethodKind;
}

/** `GET /who_are_you` of a serving: the one shape the serving sends and the SDK reads. */
export interface WhoAreYou {
  name: string;
  kind: string;
  methods: Record<string, MethodInfo>;
  fields: string[];
  version: string;
  /** How `forward` is called (POST /forward), or null when the served object has none. */
  forward: MethodInfo | null;
}
