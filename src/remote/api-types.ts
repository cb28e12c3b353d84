// Types of the platform API's routes, taken from their declarations (type-only: the SDK loads no
// schema code at run time). A route is named "METHOD /path", as declared.
import type { z } from "zod";
import type { ApiContract } from "../contract/index.ts";

export type RouteKey = keyof ApiContract;
type Req<K extends RouteKey> = ApiContract[K] extends { request: infer R } ? R : {};
type Schema<T> = T extends z.ZodType ? T : never;

type ParamsIn<K extends RouteKey> = Req<K> extends { params: infer S } ? { params: z.input<Schema<S>> } : {};
/** Query values are strings on the wire; numbers are accepted where a string is declared (sent as written). */
type QueryIn<K extends RouteKey> = Req<K> extends { query: infer S } ? { query?: { [F in keyof z.input<Schema<S>>]?: z.input<Schema<S>>[F] | (string extends z.input<Schema<S>>[F] ? number : never) } } : {};
type BodyIn<K extends RouteKey> = Req<K> extends { body: { required: infer Required; content: infer C } }
  ? C extends { "application/json": { schema: infer S extends z.ZodType } }
    ? true extends Required
      ? { body: z.input<S> }
      : { body?: z.input<S> }
    : { raw: Uint8Array }
  : {};

/** What a call of route K takes: its declared params, query and body, plus transport options. */
export type ApiInput<K extends RouteKey> = ParamsIn<K> & QueryIn<K> & BodyIn<K> & { headers?: Record<string, string>; signal?: AbortSignal };

type Responses<K extends RouteKey> = ApiContract[K]["responses"];
/** What route K answers on success (any declared 2xx), as the declared schema says. */
export type ApiOutput<K extends RouteKey> = {
  [S in keyof Responses<K>]: S extends 200 | 201 ? (Responses<K>[S] extends { content: { "application/json": { schema: infer T extends z.ZodType } } } ? z.output<T> : never) : never;
}[keyof Responses<K>];

/** The input may be left out when nothing in it is required. */
export type ApiArgs<K extends RouteKey> = {} extends ApiInput<K> ? [input?: ApiInput<K>] : [input: ApiInput<K>];
