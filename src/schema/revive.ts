// Plain JSON from a plain HTTP caller -> the JavaScript values the method's types ask for, guided by
// the deploy-time schema: an ISO string where a Date is declared becomes a Date, a base64 string
// bytes, an object a Map, an array a Set, a decimal string a bigint. Runs after validation; a value
// its schema says nothing rich about is passed on as it came.
import { base64ToBuffer, base64ToUint8Array } from "../codec/bytes.ts";
import { setField } from "../codec/fields.ts";
import { NBOX_TYPE_KEY, type JsonSchema } from "./types.ts";

type Defs = Record<string, JsonSchema>;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * @example revive("2024-01-02T00:00:00.000Z", { type: "string", "x-nbox-type": "Date" }, {}) // a Date
 */
export function revive(value: unknown, schema: JsonSchema | undefined, defs: Defs, depth = 0): unknown {
  if (!schema || depth > 64) return value;
  const s = resolve(schema, defs);
  if (!s) return value;
  switch (s[NBOX_TYPE_KEY]) {
    case "Date":
      return typeof value === "string" ? new Date(value) : value;
    case "bigint":
      return typeof value === "string" || (typeof value === "number" && Number.isInteger(value)) ? BigInt(value) : value;
    case "bytes":
      return typeof value === "string" ? base64ToUint8Array(value) : value;
    case "Buffer":
      return typeof value === "string" ? base64ToBuffer(value) : value;
    case "Set":
      return Array.isArray(value) ? new Set(value.map((x) => revive(x, s.items as JsonSchema, defs, depth + 1))) : value;
    case "Map":
      return reviveMap(value, s, defs, depth);
    case "Error":
      if (isRecord(value) && typeof value.message === "string") {
        const err = new Error(value.message);
        if (typeof value.name === "string") Object.defineProperty(err, "name", { value: value.name, writable: true, configurable: true });
        return err;
      }
      return value;
  }
  if (Array.isArray(s.anyOf)) return reviveAnyOf(value, s.anyOf as JsonSchema[], defs, depth);
  if (Array.isArray(value)) {
    const prefix = (s.prefixItems as JsonSchema[] | undefined) ?? [];
    const items = s.items as JsonSchema | undefined;
    if (prefix.length === 0 && !items) return value;
    return value.map((x, i) => revive(x, prefix[i] ?? items, defs, depth + 1));
  }
  if (isRecord(value) && (s.properties || s.additionalProperties)) {
    const props = (s.properties as Record<string, JsonSchema> | undefined) ?? {};
    const extra = isRecord(s.additionalProperties) ? (s.additionalProperties as JsonSchema) : undefined;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) setField(out, k, revive(v, Object.hasOwn(props, k) ? props[k] : extra, defs, depth + 1));
    return out;
  }
  return value;
}

function resolve(s: JsonSchema, defs: Defs): JsonSchema | undefined {
  for (let i = 0; i < 32 && typeof s.$ref === "string"; i++) {
    const hit = defs[s.$ref.replace(/^#\/\$defs\//, "")];
    if (!hit) return undefined;
    s = hit;
  }
  return s;
}

function reviveMap(value: unknown, s: JsonSchema, defs: Defs, depth: number): unknown {
  if (isRecord(value)) {
    const v = (s.additionalProperties as JsonSchema | undefined) ?? entryParts(s)?.[1];
    return new Map(Object.entries(value).map(([k, x]) => [k, revive(x, v, defs, depth + 1)]));
  }
  if (Array.isArray(value) && value.every((e) => Array.isArray(e) && e.length === 2)) {
    const [ks, vs] = entryParts(s) ?? [];
    return new Map(value.map(([k, x]) => [revive(k, ks, defs, depth + 1), revive(x, vs, defs, depth + 1)]));
  }
  return value;
}

/** Key and value schemas of a Map sent as `[[key, value], …]`. */
function entryParts(s: JsonSchema): [JsonSchema, JsonSchema] | undefined {
  const entries = (s.anyOf as JsonSchema[] | undefined)?.find((b) => b.type === "array");
  const pair = (entries?.items as JsonSchema | undefined)?.prefixItems as JsonSchema[] | undefined;
  return pair && pair.length === 2 ? [pair[0]!, pair[1]!] : undefined;
}

const jsonType = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v === "number" ? "number" : typeof v);

/** Of a union, the one branch whose JSON type fits the value; when several do, the value stays as it came. */
function reviveAnyOf(value: unknown, branches: JsonSchema[], defs: Defs, depth: number): unknown {
  const t = jsonType(value);
  const fits = branches.filter((b) => {
    const r = resolve(b, defs);
    if (!r) return false;
    if ("const" in r) return jsonType(r.const) === t;
    if (Array.isArray(r.enum)) return r.enum.some((x) => jsonType(x) === t);
    const types = Array.isArray(r.type) ? r.type : r.type === undefined ? [] : [r.type];
    return types.some((x) => x === t || (x === "integer" && t === "number"));
  });
  return fits.length === 1 ? revive(value, fits[0], defs, depth + 1) : value;
}
