// JSON-safe tagged tree -> value. Copy-on-write like the encoder: untagged JSON comes back as the very
// same objects (no copying), only containers with tagged descendants are rebuilt.
// Tags map to a fixed set of constructors; nothing here can evaluate or load code.
import { base64ToBuffer, base64ToUint8Array } from "./bytes.ts";
import { buildError } from "./errors-wire.ts";
import { setField } from "./fields.ts";
import { PathFault, finishFault, indexSegment, keySegment, withSegment } from "./path.ts";
import { KNOWN_TAGS, TAG_KEY, Tag } from "./tags.ts";

export interface FromWireOptions {
  /** Name of the root in error messages. Default "value". */
  path?: string;
}

const BIGINT_TEXT = /^-?\d+$/;
const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

export function fromWire(wire: unknown, options?: FromWireOptions): unknown {
  try {
    return dec(wire);
  } catch (err) {
    throw finishFault(err, options?.path ?? "value", "decode");
  }
}

function dec(w: unknown): unknown {
  if (typeof w !== "object") {
    if (typeof w === "string" || typeof w === "boolean") return w;
    if (typeof w === "number" && w - w === 0) return w;
    throw new PathFault(`is not valid wire data (${describe(w)}); expected JSON`, true);
  }
  if (w === null) return null;
  if (Array.isArray(w)) return decArray(w);
  const o = w as Record<string, unknown>;
  if (hasOwn(o, TAG_KEY)) return decTagged(o);
  return decFields(o);
}

function describe(w: unknown): string {
  return typeof w === "number" ? String(w) : typeof w;
}

function decArray(a: unknown[]): unknown[] {
  let out: unknown[] | null = null;
  let i = 0;
  try {
    for (; i < a.length; i++) {
      const item = a[i];
      const v = dec(item);
      if (out !== null) out[i] = v;
      else if (v !== item) {
        out = a.slice(0, i);
        out[i] = v;
      }
    }
  } catch (err) {
    throw withSegment(err, indexSegment(i));
  }
  return out ?? a;
}

function decFields(o: Record<string, unknown>): Record<string, unknown> {
  const keys = Object.keys(o);
  let out: Record<string, unknown> | null = null;
  let i = 0;
  try {
    for (; i < keys.length; i++) {
      const k = keys[i]!;
      const item = o[k];
      const v = dec(item);
      if (out !== null) setField(out, k, v);
      else if (v !== item) {
        out = {};
        for (let j = 0; j < i; j++) setField(out, keys[j]!, o[keys[j]!]);
        setField(out, k, v);
      }
    }
  } catch (err) {
    throw withSegment(err, keySegment(keys[i]!));
  }
  return out ?? o;
}

function malformed(tag: string, expected: string): PathFault {
  return new PathFault(`malformed "${tag}" tag: expected ${expected}`, false);
}

function decTagged(o: Record<string, unknown>): unknown {
  const tag = o[TAG_KEY];
  const v = o.v;
  switch (tag) {
    case Tag.undefined:
      return undefined;
    case Tag.number:
      switch (v) {
        case "NaN":
          return NaN;
        case "Infinity":
          return Infinity;
        case "-Infinity":
          return -Infinity;
        case "-0":
          return -0;
      }
      throw malformed(tag, `v to be "NaN", "Infinity", "-Infinity" or "-0"`);
    case Tag.bigint:
      if (typeof v !== "string" || !BIGINT_TEXT.test(v)) throw malformed(tag, "v to be a decimal integer string");
      return BigInt(v);
    case Tag.date: {
      if (v === null) return new Date(NaN);
      const d = typeof v === "string" ? new Date(v) : null;
      if (d === null || Number.isNaN(d.getTime())) throw malformed(tag, "v to be an ISO date string or null");
      return d;
    }
    case Tag.uint8array:
      if (typeof v !== "string") throw malformed(tag, "v to be a base64 string");
      return base64ToUint8Array(v);
    case Tag.buffer:
      if (typeof v !== "string") throw malformed(tag, "v to be a base64 string");
      return base64ToBuffer(v);
    case Tag.map:
      return decMap(v);
    case Tag.set:
      if (!Array.isArray(v)) throw malformed(tag, "v to be an array of items");
      return new Set(withSegmentFrom(".v", () => decArray(v)));
    case Tag.error:
      return decError(v);
    case Tag.object:
      if (!isRecord(v)) throw malformed(tag, "v to be an object");
      // Keys of an escaped object are literal user keys, so v itself is never read as a tag.
      return withSegmentFrom(".v", () => decFields(v));
  }
  if (typeof tag !== "string") throw new PathFault(`malformed tag: "${TAG_KEY}" must be a string`, false);
  throw new PathFault(
    `unknown codec tag "${tag}" (known tags: ${KNOWN_TAGS.join(", ")}); the sender may be a newer nbox`,
    false,
  );
}

function withSegmentFrom<T>(segment: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw withSegment(err, segment);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function decMap(v: unknown): Map<unknown, unknown> {
  if (!Array.isArray(v)) throw malformed(Tag.map, "v to be an array of [key, value] pairs");
  const m = new Map<unknown, unknown>();
  let i = 0;
  try {
    for (; i < v.length; i++) {
      const pair: unknown = v[i];
      if (!Array.isArray(pair) || pair.length !== 2) throw malformed(Tag.map, "v to be an array of [key, value] pairs");
      m.set(dec(pair[0]), dec(pair[1]));
    }
  } catch (err) {
    throw withSegment(err, `.v[${i}]`);
  }
  return m;
}

function decError(v: unknown): Error {
  if (!isRecord(v) || typeof v.name !== "string" || typeof v.message !== "string") {
    throw malformed(Tag.error, "v to be { name: string, message: string, ... }");
  }
  if (v.stack !== undefined && typeof v.stack !== "string") throw malformed(Tag.error, "stack to be a string");
  const hasCause = hasOwn(v, "cause");
  const cause = hasCause ? withSegmentFrom(".cause", () => dec(v.cause)) : undefined;
  const errors = v.errors === undefined ? undefined : withSegmentFrom(".errors", () => dec(v.errors));
  if (errors !== undefined && !Array.isArray(errors)) throw malformed(Tag.error, "errors to be an array");
  const props = v.props === undefined ? undefined : withSegmentFrom(".props", () => dec(v.props));
  if (props !== undefined && !isRecord(props)) throw malformed(Tag.error, "props to be an object");
  return buildError({ name: v.name, message: v.message, stack: v.stack, hasCause, cause, errors, props });
}
