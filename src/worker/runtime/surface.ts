// What a loaded target exposes, read from the live instance in the child runtime: callable methods
// with their signatures, readable/writable fields, and `forward`. Every name that comes from outside
// the child (HTTP path, job method) goes through `reachable`, the one allow-list.
import { isOperator } from "../../operator/brand.ts";
import { stateOf } from "../../operator/invoke.ts";
import { minArgsOf, signatureOf, type ParamInfo } from "../../operator/signature.ts";
import { classSurface, isPublicName, type ClassSurface } from "../../remote/class-surface.ts";
import type { RecordedSignature, SchemaSet } from "../../schema/types.ts";
import type { MethodInfo, MethodKind, WhoAreYou } from "../../remote/serving-types.ts";

export type { MethodInfo, MethodKind, WhoAreYou } from "../../remote/serving-types.ts";

export interface Surface {
  /** Object whose methods and fields are served (an InstanceOperator's `target`, else the instance). */
  host: Record<string, unknown>;
  methods: Record<string, MethodInfo>;
  accessors: ClassSurface["accessors"];
  /** How to run `forward`, or null when the instance has none. */
  forward: { info: MethodInfo; call(args: unknown[]): unknown } | null;
  /** Parameter/result schemas recorded at deploy (from the TypeScript source), when there are any. */
  schemas?: SchemaSet;
}

const OBJECT_PROTO_NAMES = new Set(Object.getOwnPropertyNames(Object.prototype));

/**
 * May `name` be reached over the network? Never: `_`/`#`/`$` names, `constructor`, `__proto__`,
 * `prototype`, Object.prototype members, framework methods (FORBIDDEN_NAMES).
 */
export function reachable(name: string): boolean {
  return name.length > 0 && isPublicName(name) && !OBJECT_PROTO_NAMES.has(name);
}

type SigLike = { params: ParamInfo[]; minArgs?: number; maxArgs: number | null };

/**
 * Parameters as recorded at deploy win over the live function's: they know TypeScript's `?`. A
 * recording without `minArgs` predates it and cannot tell `?` parameters apart: no lower bound then.
 */
const info = (live: SigLike, kind: MethodKind, recorded?: SigLike | null): MethodInfo => {
  const fromDeploy = !!recorded && Array.isArray(recorded.params);
  const sig = fromDeploy ? recorded! : live;
  const max = sig.maxArgs;
  const min = typeof sig.minArgs === "number" ? sig.minArgs : fromDeploy ? 0 : minArgsOf(sig.params);
  return { params: sig.params, minArgs: min, maxArgs: max !== null && Number.isFinite(max) ? max : null, kind };
};

function kindOf(fn: Function): MethodKind {
  const tag = Object.prototype.toString.call(fn);
  return tag === "[object AsyncGeneratorFunction]" ? "asyncGenerator" : tag === "[object GeneratorFunction]" ? "generator" : tag === "[object AsyncFunction]" ? "async" : "method";
}

/** Build the surface of a materialized target (see `materialize`): plain instance or Operator. */
export function surfaceOf(target: unknown, kind: string, recorded?: RecordedSignature): Surface {
  const s = surfaceOfLive(target, kind, recorded ?? {});
  if (recorded?.schemas) s.schemas = recorded.schemas;
  return s;
}

function surfaceOfLive(target: unknown, kind: string, recorded: RecordedSignature): Surface {
  const rec = recorded.forward ?? null;
  if (isOperator(target)) {
    const st = stateOf(target);
    if (st.kind === "fn") {
      // A wrapped function: only forward, with the function's own signature.
      const fn = (target as unknown as { fn: Function }).fn;
      return { host: target as unknown as Record<string, unknown>, methods: {}, accessors: {}, forward: { info: info(signatureOf(fn), kindOf(fn), rec), call: (a) => target(...a) } };
    }
    if (st.kind === "instance" && kind === "instance" && typeof (target as { target?: unknown }).target === "object") {
      // operator(obj): calls go to obj.forward through the operator (traced), methods live on obj.
      const obj = (target as unknown as { target: object }).target;
      const s = classSurface(obj.constructor);
      const fwd = s.forward ? { info: info(s.forward, "method", rec), call: (a: unknown[]) => target(...a) } : null;
      return { host: obj as Record<string, unknown>, methods: mapMethods(s, recorded), accessors: s.accessors, forward: fwd };
    }
    const s = classSurface(target.constructor);
    const fwd = s.forward ?? signatureOf((target as unknown as { forward: Function }).forward);
    return {
      host: target as unknown as Record<string, unknown>,
      methods: mapMethods(s, recorded),
      accessors: s.accessors,
      forward: { info: info(fwd, "async", rec), call: (a) => target(...a) },
    };
  }
  if (target === null || typeof target !== "object") throw new TypeError(`a serving needs an object instance, got ${typeof target}`);
  const s = classSurface(target.constructor);
  const host = target as Record<string, unknown>;
  const fwd = s.forward && typeof host.forward === "function" ? { info: info(s.forward, kindOf(host.forward as Function), rec), call: (a: unknown[]) => (host.forward as Function).apply(host, a) } : null;
  return { host, methods: mapMethods(s, recorded), accessors: s.accessors, forward: fwd };
}

function mapMethods(s: ClassSurface, recorded: RecordedSignature): Record<string, MethodInfo> {
  const out: Record<string, MethodInfo> = {};
  for (const [name, m] of Object.entries(s.methods)) if (reachable(name)) out[name] = info(m, m.kind, recorded.methods?.[name]);
  return out;
}

/**
 * The fields `who_are_you` lists: the live instance's own enumerable keys (as its Proxy's `ownKeys`
 * reports them, if it has one) that hold data, not functions or operators, plus getters.
 */
export function fieldsOf(surface: Surface): string[] {
  const out = new Set<string>();
  const host = surface.host;
  for (const key of Object.keys(host)) {
    if (!reachable(key)) continue;
    const v = host[key];
    if (typeof v === "function" || isOperator(v)) continue;
    out.add(key);
  }
  for (const [key, a] of Object.entries(surface.accessors)) if (a.get && reachable(key)) out.add(key);
  return [...out];
}

export type FieldRead = { ok: true; value: unknown } | { ok: false; why: string };

/**
 * Read `name` on the live instance, as `instance[name]` would locally: own fields, getters, and
 * whatever the instance's own Proxy `get` trap answers (a class may return a Proxy from its
 * constructor to answer unknown names). Private, framework and Object names are never read;
 * methods and child operators are not fields.
 */
export function readField(surface: Surface, name: string): FieldRead {
  if (!reachable(name)) return { ok: false, why: "has no public field" };
  if (name in surface.methods) return { ok: false, why: "has a method, not a field, named" };
  const value = Reflect.get(surface.host, name);
  if (typeof value === "function" || isOperator(value)) return { ok: false, why: "has no public field" };
  // `undefined` from a name the instance does not have at all: unknown (a field set to undefined is fine).
  if (value === undefined && !(name in surface.host)) return { ok: false, why: "has no public field" };
  return { ok: true, value };
}

/** Is `name` a writable field? (existing own writable data field or setter) */
export function isWritableField(surface: Surface, name: string): boolean {
  if (!reachable(name) || name in surface.methods) return false;
  if (surface.accessors[name]) return surface.accessors[name]!.set;
  const d = Object.getOwnPropertyDescriptor(surface.host, name);
  return !!d && d.enumerable === true && d.writable === true && typeof d.value !== "function" && !isOperator(d.value);
}

/**
 * What the parent learns about a loaded target when it is ready (sent once): enough to route
 * calls, check their arguments and describe the serving without asking the child.
 */
export interface SurfaceInfo {
  methods: Record<string, MethodInfo>;
  forward: MethodInfo | null;
  /** Fields at load time; `fields` asks the live instance again (a call may add some). */
  fields: string[];
  schemas?: SchemaSet;
}

export function describeSurface(surface: Surface): SurfaceInfo {
  return { methods: surface.methods, forward: surface.forward?.info ?? null, fields: fieldsOf(surface), ...(surface.schemas ? { schemas: surface.schemas } : {}) };
}

export function whoAreYou(surface: SurfaceInfo, fields: string[], meta: { name: string; kind: string; version: string }): WhoAreYou {
  return { ...meta, methods: surface.methods, fields, forward: surface.forward };
}
