// Value -> JSON-safe tagged tree. Copy-on-write: a container whose children all come back unchanged
// is returned as-is, so plain JSON-ish payloads (the common case) are walked but never copied.
//
// Cycle detection is deferred: the fast walk only counts depth. Past FAST_DEPTH it bails out and the
// value is re-walked with an ancestor set, which finds real cycles (and their path) or handles data
// that is merely deep. Typical calls therefore never allocate a Set.
import { Buffer } from "node:buffer";
import { types } from "node:util";
import { bytesToBase64 } from "./bytes.ts";
import {
  PathFault,
  finishFault,
  indexSegment,
  keySegment,
  mapKeySegment,
  mapValueSegment,
  setItemSegment,
  withSegment,
} from "./path.ts";
import { setField } from "./fields.ts";
import { TAG_KEY, Tag, type WireError } from "./tags.ts";

export interface ToWireOptions {
  /** Name of the root in error messages, e.g. "args" gives "args[0].cb is a function". Default "value". */
  path?: string;
}

const FAST_DEPTH = 100;
const TOO_DEEP = Symbol("too deep for the fast walk");

const UNDEFINED_WIRE = Object.freeze({ [TAG_KEY]: Tag.undefined });
const NAN_WIRE = Object.freeze({ [TAG_KEY]: Tag.number, v: "NaN" });
const INF_WIRE = Object.freeze({ [TAG_KEY]: Tag.number, v: "Infinity" });
const NEG_INF_WIRE = Object.freeze({ [TAG_KEY]: Tag.number, v: "-Infinity" });
const NEG_ZERO_WIRE = Object.freeze({ [TAG_KEY]: Tag.number, v: "-0" });

type Seen = Set<object> | null;

export function toWire(value: unknown, options?: ToWireOptions): unknown {
  const root = options?.path ?? "value";
  try {
    return enc(value, 0, null);
  } catch (err) {
    if (err !== TOO_DEEP) throw finishFault(err, root, "encode");
  }
  try {
    return enc(value, 0, new Set());
  } catch (err) {
    throw finishFault(err, root, "encode");
  }
}

function enc(v: unknown, depth: number, seen: Seen): unknown {
  switch (typeof v) {
    case "string":
    case "boolean":
      return v;
    case "number":
      if (v === 0) return 1 / v < 0 ? NEG_ZERO_WIRE : v;
      if (v - v === 0) return v; // finite
      return v !== v ? NAN_WIRE : v > 0 ? INF_WIRE : NEG_INF_WIRE;
    case "undefined":
      return UNDEFINED_WIRE;
    case "bigint":
      return { [TAG_KEY]: Tag.bigint, v: v.toString() };
    case "function":
      throw new PathFault("is a function; functions cannot be sent over the wire", true);
    case "symbol":
      throw new PathFault("is a symbol; symbols cannot be sent over the wire", true);
    case "object":
      if (v === null) return null;
      if (seen === null) {
        if (depth > FAST_DEPTH) throw TOO_DEEP;
        return encObjectLike(v, depth, null);
      }
      if (seen.has(v)) {
        throw new PathFault("is a circular reference (it contains itself); cycles cannot be sent over the wire", true);
      }
      seen.add(v);
      try {
        return encObjectLike(v, depth, seen);
      } finally {
        seen.delete(v);
      }
  }
  throw new PathFault(`has unsupported type ${typeof v}`, true);
}

function encObjectLike(v: object, depth: number, seen: Seen): unknown {
  if (Array.isArray(v)) return encArray(v, depth, seen);
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) return encFields(v as Record<string, unknown>, depth, seen, false);
  return encSpecial(v, depth, seen);
}

function encArray(a: unknown[], depth: number, seen: Seen): unknown[] {
  let out: unknown[] | null = null;
  const n = a.length;
  let i = 0;
  try {
    for (; i < n; i++) {
      const item = a[i];
      const w = enc(item, depth + 1, seen);
      if (out !== null) out[i] = w;
      else if (w !== item) {
        out = a.slice(0, i); // items before i were unchanged
        out[i] = w;
      }
    }
  } catch (err) {
    throw withSegment(err, indexSegment(i));
  }
  return out ?? a;
}

/** Own enumerable string-keyed fields. `forceCopy` for class instances and errors (never reuse those). */
function encFields(o: Record<string, unknown>, depth: number, seen: Seen, forceCopy: boolean): unknown {
  const keys = Object.keys(o);
  let out: Record<string, unknown> | null = forceCopy ? {} : null;
  let escape = false;
  let i = 0;
  try {
    for (; i < keys.length; i++) {
      const k = keys[i]!;
      if (k === TAG_KEY) escape = true;
      const item = o[k];
      const w = enc(item, depth + 1, seen);
      if (out !== null) setField(out, k, w);
      else if (w !== item) {
        out = {};
        for (let j = 0; j < i; j++) setField(out, keys[j]!, o[keys[j]!]);
        setField(out, k, w);
      }
    }
  } catch (err) {
    throw withSegment(err, keySegment(keys[i]!));
  }
  const fields = out ?? o;
  return escape ? { [TAG_KEY]: Tag.object, v: fields } : fields;
}

function encSpecial(v: object, depth: number, seen: Seen): unknown {
  if (types.isDate(v)) {
    const t = (v as Date).getTime();
    return { [TAG_KEY]: Tag.date, v: t === t ? (v as Date).toISOString() : null };
  }
  if (types.isUint8Array(v)) {
    return { [TAG_KEY]: Buffer.isBuffer(v) ? Tag.buffer : Tag.uint8array, v: bytesToBase64(v as Uint8Array) };
  }
  if (types.isMap(v)) return encMap(v as Map<unknown, unknown>, depth, seen);
  if (types.isSet(v)) return encSet(v as Set<unknown>, depth, seen);
  if (types.isNativeError(v) || v instanceof Error) return encError(v as Error, depth, seen);
  const unsupported = unsupportedKind(v);
  if (unsupported !== undefined) throw new PathFault(unsupported, true);
  // Any other class instance travels as its own enumerable fields, like JSON would (minus toJSON).
  return encFields(v as Record<string, unknown>, depth, seen, true);
}

export function unsupportedKind(v: object): string | undefined {
  if (types.isPromise(v)) return "is a Promise; await it before sending";
  if (types.isWeakMap(v) || types.isWeakSet(v)) return "is a WeakMap/WeakSet, which cannot be sent over the wire";
  if (types.isRegExp(v)) return "is a RegExp, which the codec does not support; send its source string instead";
  if (types.isAnyArrayBuffer(v) || ArrayBuffer.isView(v)) {
    const kind = (v as { constructor?: { name?: string } }).constructor?.name ?? "binary view";
    return `is a ${kind}; only Uint8Array and Buffer binary data is supported`;
  }
  if (types.isBoxedPrimitive(v)) return "is a boxed primitive (new String/Number/...); send the primitive instead";
  return undefined;
}

function encMap(m: Map<unknown, unknown>, depth: number, seen: Seen): unknown {
  const entries: unknown[] = [];
  let i = 0;
  for (const [k, val] of m) {
    let wk: unknown;
    try {
      wk = enc(k, depth + 1, seen);
    } catch (err) {
      throw withSegment(err, mapKeySegment(i));
    }
    try {
      entries.push([wk, enc(val, depth + 1, seen)]);
    } catch (err) {
      throw withSegment(err, mapValueSegment(k, i));
    }
    i++;
  }
  return { [TAG_KEY]: Tag.map, v: entries };
}

function encSet(s: Set<unknown>, depth: number, seen: Seen): unknown {
  const items: unknown[] = [];
  let i = 0;
  try {
    for (const item of s) {
      items.push(enc(item, depth + 1, seen));
      i++;
    }
  } catch (err) {
    throw withSegment(err, setItemSegment(i));
  }
  return { [TAG_KEY]: Tag.set, v: items };
}

function encError(e: Error, depth: number, seen: Seen): unknown {
  const out: WireError = { name: String(e.name), message: String(e.message) };
  if (typeof e.stack === "string") out.stack = e.stack;
  if (Object.prototype.hasOwnProperty.call(e, "cause")) {
    try {
      out.cause = enc(e.cause, depth + 1, seen);
    } catch (err) {
      throw withSegment(err, ".cause");
    }
  }
  if (e instanceof AggregateError && Array.isArray(e.errors)) {
    try {
      out.errors = enc(e.errors, depth + 1, seen);
    } catch (err) {
      throw withSegment(err, ".errors");
    }
  }
  // Own enumerable fields (`code`, `status`, ...). Walked directly on the error so paths read `err.code`.
  if (Object.keys(e).length > 0) out.props = encFields(e as unknown as Record<string, unknown>, depth, seen, true);
  return { [TAG_KEY]: Tag.error, v: out };
}
