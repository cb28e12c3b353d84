// Value -> plain JSON, for callers that speak plain JSON (curl, any HTTP client): no tags, each
// rich value as the JSON a non-JavaScript caller expects. Lossy by design, one way only:
//   undefined      -> field left out; null inside arrays; `undefined` at the root (the caller omits it)
//   Date           -> ISO string (null for an invalid date)
//   Set            -> array
//   Map            -> object when every key is a string (an empty Map too), else [[key, value], ...]
//   BigInt         -> decimal string
//   Uint8Array/Buffer -> base64 string
//   NaN, ±Infinity -> null (as JSON.stringify does), -0 -> 0
//   Error          -> { name, message }
// Other class instances travel as their own enumerable fields, as in the tagged codec (no toJSON).
// Functions, symbols, cycles and unsupported objects fail with a CodecError naming the path.
import { types } from "node:util";
import { bytesToBase64 } from "./bytes.ts";
import { setField } from "./fields.ts";
import { PathFault, finishFault, indexSegment, keySegment, mapKeySegment, mapValueSegment, setItemSegment, withSegment } from "./path.ts";
import { unsupportedKind } from "./to-wire.ts";

export interface ToPlainOptions {
  /** Name of the root in error messages. Default "value". */
  path?: string;
  /**
   * Keep NaN/±Infinity as numbers instead of null: for checking a value against a schema, where a
   * non-finite number is still a number.
   */
  keepNonFinite?: boolean;
}

/**
 * The plain JSON form of a value (a tree JSON.stringify writes as is).
 * @example toPlain(new Map([["a", 1n]])) // { a: "1" }
 */
export function toPlain(value: unknown, options?: ToPlainOptions): unknown {
  try {
    return plain(value, new Set(), options?.keepNonFinite === true);
  } catch (err) {
    throw finishFault(err, options?.path ?? "value", "encode");
  }
}

function plain(v: unknown, seen: Set<object>, keep: boolean): unknown {
  switch (typeof v) {
    case "string":
    case "boolean":
    case "undefined":
      return v;
    case "number":
      if (v === 0) return 0;
      return v - v === 0 || keep ? v : null;
    case "bigint":
      return v.toString();
    case "function":
      throw new PathFault("is a function; functions cannot be sent over the wire", true);
    case "symbol":
      throw new PathFault("is a symbol; symbols cannot be sent over the wire", true);
  }
  if (v === null) return null;
  const o = v as object;
  if (seen.has(o)) throw new PathFault("is a circular reference (it contains itself); cycles cannot be sent over the wire", true);
  seen.add(o);
  try {
    return plainObject(o, seen, keep);
  } finally {
    seen.delete(o);
  }
}

function plainObject(o: object, seen: Set<object>, keep: boolean): unknown {
  if (Array.isArray(o)) return plainArray(o, seen, keep, indexSegment);
  if (types.isDate(o)) {
    const t = (o as Date).getTime();
    return t === t ? (o as Date).toISOString() : null;
  }
  if (types.isUint8Array(o)) return bytesToBase64(o as Uint8Array);
  if (types.isSet(o)) return plainArray([...(o as Set<unknown>)], seen, keep, setItemSegment);
  if (types.isMap(o)) return plainMap(o as Map<unknown, unknown>, seen, keep);
  if (types.isNativeError(o) || o instanceof Error) return { name: String((o as Error).name), message: String((o as Error).message) };
  const proto: unknown = Object.getPrototypeOf(o);
  if (proto !== Object.prototype && proto !== null) {
    const unsupported = unsupportedKind(o);
    if (unsupported !== undefined) throw new PathFault(unsupported, true);
  }
  return plainFields(o as Record<string, unknown>, seen, keep);
}

function plainArray(a: unknown[], seen: Set<object>, keep: boolean, segment: (i: number) => string): unknown[] {
  const out: unknown[] = new Array(a.length);
  let i = 0;
  try {
    for (; i < a.length; i++) {
      const x = plain(a[i], seen, keep);
      out[i] = x === undefined ? null : x;
    }
  } catch (err) {
    throw withSegment(err, segment(i));
  }
  return out;
}

function plainFields(o: Record<string, unknown>, seen: Set<object>, keep: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const keys = Object.keys(o);
  let i = 0;
  try {
    for (; i < keys.length; i++) {
      const x = plain(o[keys[i]!], seen, keep);
      if (x !== undefined) setField(out, keys[i]!, x);
    }
  } catch (err) {
    throw withSegment(err, keySegment(keys[i]!));
  }
  return out;
}

function plainMap(m: Map<unknown, unknown>, seen: Set<object>, keep: boolean): unknown {
  let stringKeys = true;
  for (const k of m.keys()) if (typeof k !== "string") stringKeys = false;
  const out: Record<string, unknown> = {};
  const entries: unknown[] = [];
  let i = 0;
  for (const [k, val] of m) {
    let key: unknown;
    try {
      key = plain(k, seen, keep);
    } catch (err) {
      throw withSegment(err, mapKeySegment(i));
    }
    let x: unknown;
    try {
      x = plain(val, seen, keep);
    } catch (err) {
      throw withSegment(err, mapValueSegment(k, i));
    }
    if (stringKeys) {
      if (x !== undefined) setField(out, k as string, x);
    } else entries.push([key === undefined ? null : key, x === undefined ? null : x]);
    i++;
  }
  return stringKeys ? out : entries;
}
