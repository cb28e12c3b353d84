// TypeScript type -> JSON Schema (2020-12) of its plain JSON form (codec/to-plain.ts). Named
// object types (interfaces, classes, aliases) go to `defs` once and are referenced, so recursive
// types work and documents stay small. What JSON cannot carry is published as `{}` with a note.
import type ts from "typescript";
import { NBOX_TYPE_KEY, UNREPRESENTABLE_KEY, type JsonSchema } from "./types.ts";

type TS = typeof ts;

const MAX_DEPTH = 40;

export const DATE_SCHEMA: JsonSchema = { type: "string", format: "date-time", [NBOX_TYPE_KEY]: "Date" };
export const BIGINT_SCHEMA: JsonSchema = { type: "string", pattern: "^-?[0-9]+$", [NBOX_TYPE_KEY]: "bigint" };
const ERROR_SCHEMA: JsonSchema = {
  type: "object",
  properties: { name: { type: "string" }, message: { type: "string" } },
  required: ["name", "message"],
  [NBOX_TYPE_KEY]: "Error",
};
const bytes = (kind: "bytes" | "Buffer"): JsonSchema => ({ type: "string", contentEncoding: "base64", [NBOX_TYPE_KEY]: kind });
const unrepresentable = (why: string): JsonSchema => ({ description: `any JSON value: ${why}`, [UNREPRESENTABLE_KEY]: why });

/** Types JSON cannot carry at all, by their global name. */
const NOT_JSON: Record<string, string> = {
  Promise: "a Promise cannot be sent; await it first",
  RegExp: "a RegExp cannot be sent; send its source string",
  WeakMap: "a WeakMap cannot be sent",
  WeakSet: "a WeakSet cannot be sent",
  WeakRef: "a WeakRef cannot be sent",
  ArrayBuffer: "only Uint8Array/Buffer binary data can be sent",
  SharedArrayBuffer: "only Uint8Array/Buffer binary data can be sent",
  DataView: "only Uint8Array/Buffer binary data can be sent",
};

const LIB_FILE = /[\\/]typescript[\\/]lib[\\/]lib\.[^\\/]*\.d\.ts$/;
const isStandardLibrary = (symbol: ts.Symbol): boolean => (symbol.declarations ?? []).some((d) => LIB_FILE.test(d.getSourceFile().fileName));

export class SchemaConverter {
  readonly defs: Record<string, JsonSchema> = {};
  private readonly names = new Map<ts.Type, string>();
  private readonly active = new Set<ts.Type>();

  constructor(
    private readonly ts: TS,
    private readonly checker: ts.TypeChecker,
  ) {}

  /** Schema of a value of type `t`. */
  convert(t: ts.Type, depth = 0): JsonSchema {
    if (depth > MAX_DEPTH) return unrepresentable("nested too deeply to describe");
    const { TypeFlags } = this.ts;
    const f = t.flags;
    if (f & (TypeFlags.Any | TypeFlags.Unknown)) return {};
    if (f & TypeFlags.Never) return { not: {} };
    if (f & TypeFlags.Null) return { type: "null" };
    if (f & (TypeFlags.Undefined | TypeFlags.Void)) return unrepresentable("undefined is sent as an absent value or null");
    if (f & TypeFlags.StringLiteral) return { const: (t as ts.StringLiteralType).value };
    if (f & TypeFlags.NumberLiteral) return { const: (t as ts.NumberLiteralType).value };
    if (f & TypeFlags.BooleanLiteral) return { const: (t as { intrinsicName?: string }).intrinsicName === "true" };
    if (f & TypeFlags.BigIntLiteral) return { ...BIGINT_SCHEMA };
    if (f & (TypeFlags.String | TypeFlags.TemplateLiteral | TypeFlags.StringMapping)) return { type: "string" };
    if (f & TypeFlags.Number) return { type: "number" };
    if (f & TypeFlags.Boolean) return { type: "boolean" };
    if (f & TypeFlags.BigInt) return { ...BIGINT_SCHEMA };
    if (f & TypeFlags.ESSymbolLike) return unrepresentable("a symbol cannot be sent");
    if (f & TypeFlags.TypeParameter) {
      const c = this.checker.getBaseConstraintOfType(t);
      if (c && c !== t && !(c.flags & TypeFlags.Unknown)) return this.convert(c, depth + 1);
      return unrepresentable(`type parameter ${this.checker.typeToString(t)}`);
    }
    if (f & TypeFlags.Union) {
      const union = () => this.union((t as ts.UnionType).types, depth);
      // A named union of object types (`type Shape = Circle | Square`) is worth its own definition.
      const objects = (t as ts.UnionType).types.some((m) => m.flags & TypeFlags.Object);
      return t.aliasSymbol && objects ? this.named(t, depth, union) : union();
    }
    if (f & TypeFlags.NonPrimitive) return { type: "object" };
    if (f & TypeFlags.Intersection) {
      const parts = (t as ts.IntersectionType).types;
      if (parts.every((p) => p.flags & TypeFlags.Object)) return this.named(t, depth, () => this.object(t, depth));
      return { allOf: parts.map((p) => this.convert(p, depth + 1)) };
    }
    if (f & TypeFlags.Object) return this.objectLike(t as ts.ObjectType, depth);
    return unrepresentable(`type ${this.checker.typeToString(t)}`);
  }

  /** `T | undefined` without the undefined (a parameter or field that may be left out). */
  withoutUndefined(t: ts.Type): { type: ts.Type; mayBeAbsent: boolean } {
    const { TypeFlags } = this.ts;
    if (!(t.flags & TypeFlags.Union)) return { type: t, mayBeAbsent: !!(t.flags & (TypeFlags.Undefined | TypeFlags.Void)) };
    const types = (t as ts.UnionType).types;
    const kept = types.filter((m) => !(m.flags & (TypeFlags.Undefined | TypeFlags.Void)));
    if (kept.length === types.length) return { type: t, mayBeAbsent: false };
    return { type: kept.length === 1 ? kept[0]! : this.checker.getNonNullableType(t), mayBeAbsent: true };
  }

  private union(types: readonly ts.Type[], depth: number): JsonSchema {
    const { TypeFlags } = this.ts;
    const members = types.filter((m) => !(m.flags & (TypeFlags.Undefined | TypeFlags.Void)));
    const hasTrue = members.some((m) => m.flags & TypeFlags.BooleanLiteral && (m as { intrinsicName?: string }).intrinsicName === "true");
    const hasFalse = members.some((m) => m.flags & TypeFlags.BooleanLiteral && (m as { intrinsicName?: string }).intrinsicName === "false");
    const out: JsonSchema[] = [];
    const literals: (string | number)[] = [];
    for (const m of members) {
      if (m.flags & TypeFlags.BooleanLiteral && hasTrue && hasFalse) continue;
      if (m.flags & TypeFlags.StringLiteral) literals.push((m as ts.StringLiteralType).value);
      else if (m.flags & TypeFlags.NumberLiteral) literals.push((m as ts.NumberLiteralType).value);
      else out.push(this.convert(m, depth + 1));
    }
    if (hasTrue && hasFalse) out.unshift({ type: "boolean" });
    if (literals.length === 1) out.unshift({ const: literals[0] });
    else if (literals.length > 1) out.unshift({ enum: literals });
    // null last: `string | null` reads as written, whatever order the checker keeps.
    const ordered = [...out.filter((s) => s.type !== "null"), ...out.filter((s) => s.type === "null")];
    const unique = [...new Map(ordered.map((s) => [JSON.stringify(s), s])).values()];
    if (unique.length === 0) return unrepresentable("undefined is sent as an absent value or null");
    if (unique.length === 1) return unique[0]!;
    return { anyOf: unique };
  }

  private objectLike(t: ts.ObjectType, depth: number): JsonSchema {
    const { checker } = this;
    const name = (t.aliasSymbol ?? t.getSymbol())?.getName();
    const args = (t.flags & this.ts.TypeFlags.Object && (t.objectFlags & this.ts.ObjectFlags.Reference) ? checker.getTypeArguments(t as ts.TypeReference) : []) as readonly ts.Type[];
    if (checker.isTupleType(t)) return this.tuple(t as ts.TupleTypeReference, depth);
    if (checker.isArrayType(t)) return { type: "array", items: this.convert(args[0] ?? checker.getAnyType(), depth + 1) };
    switch (name) {
      case "Date":
        return { ...DATE_SCHEMA };
      case "Uint8Array":
        return bytes("bytes");
      case "Buffer":
        return bytes("Buffer");
      case "Set":
      case "ReadonlySet":
        return { type: "array", items: this.convert(args[0] ?? checker.getAnyType(), depth + 1), [NBOX_TYPE_KEY]: "Set" };
      case "Map":
      case "ReadonlyMap":
        return this.map(args[0], args[1], depth);
    }
    if (name && NOT_JSON[name]) return unrepresentable(NOT_JSON[name]!);
    if (name && /(?:Int|Uint|Float|BigInt|BigUint)\d+(?:Clamped)?Array$/.test(name)) return unrepresentable(`a ${name} cannot be sent; only Uint8Array/Buffer binary data can`);
    if (this.isError(t)) return { ...ERROR_SCHEMA };
    if (t.getCallSignatures().length > 0 && checker.getPropertiesOfType(t).length === 0) return unrepresentable("a function cannot be sent");
    return this.named(t, depth, () => this.object(t, depth));
  }

  private isError(t: ts.Type): boolean {
    const seen = new Set<ts.Type>();
    const walk = (x: ts.Type): boolean => {
      if (seen.has(x)) return false;
      seen.add(x);
      if (x.getSymbol()?.getName() === "Error") return true;
      const target = (x as ts.TypeReference).target ?? x;
      if (!(target.flags & this.ts.TypeFlags.Object) || !((target as ts.ObjectType).objectFlags & (this.ts.ObjectFlags.Class | this.ts.ObjectFlags.Interface))) return false;
      return (this.checker.getBaseTypes(target as ts.InterfaceType) ?? []).some(walk);
    };
    return walk(t);
  }

  private map(k: ts.Type | undefined, v: ts.Type | undefined, depth: number): JsonSchema {
    const { checker } = this;
    const value = this.convert(v ?? checker.getAnyType(), depth + 1);
    const key = k ?? checker.getAnyType();
    const stringKeys = key.flags & (this.ts.TypeFlags.StringLike) || (key.flags & this.ts.TypeFlags.Union && (key as ts.UnionType).types.every((m) => m.flags & this.ts.TypeFlags.StringLike));
    if (stringKeys) return { type: "object", additionalProperties: value, [NBOX_TYPE_KEY]: "Map" };
    const entries = { type: "array", items: { type: "array", prefixItems: [this.convert(key, depth + 1), value], minItems: 2, maxItems: 2 } };
    // A Map with no keys has only string keys, so it is sent as {}.
    return { anyOf: [entries, { type: "object", maxProperties: 0 }], [NBOX_TYPE_KEY]: "Map" };
  }

  private tuple(t: ts.TupleTypeReference, depth: number): JsonSchema {
    const { ElementFlags } = this.ts;
    const flags = t.target.elementFlags;
    const elems = this.checker.getTypeArguments(t);
    const prefixItems: JsonSchema[] = [];
    let minItems = 0;
    let rest: JsonSchema | undefined;
    elems.forEach((e, i) => {
      const fl = flags[i] ?? ElementFlags.Required;
      if (fl & ElementFlags.Variable) rest = this.convert(e, depth + 1);
      else {
        prefixItems.push(this.convert(e, depth + 1));
        if (fl & ElementFlags.Required) minItems = prefixItems.length;
      }
    });
    return { type: "array", prefixItems, minItems, ...(rest ? { items: rest } : { maxItems: prefixItems.length }) };
  }

  /** Own public data properties (methods and accessors do not travel: the codec sends own fields). */
  private object(t: ts.Type, depth: number): JsonSchema {
    const { ts: T, checker } = this;
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const prop of checker.getPropertiesOfType(t)) {
      const key = prop.getName();
      if (key.startsWith("__@") || key.startsWith("#")) continue;
      if (prop.flags & (T.SymbolFlags.Method | T.SymbolFlags.GetAccessor | T.SymbolFlags.SetAccessor)) continue;
      const decl = prop.valueDeclaration ?? prop.declarations?.[0];
      if (decl && T.getCombinedModifierFlags(decl as ts.Declaration) & (T.ModifierFlags.Private | T.ModifierFlags.Protected)) continue;
      const full = checker.getTypeOfSymbol(prop);
      if (full.getCallSignatures().length > 0 && checker.getPropertiesOfType(full).length === 0) continue;
      const { type, mayBeAbsent } = this.withoutUndefined(full);
      properties[key] = this.convert(type, depth + 1);
      if (!mayBeAbsent && !(prop.flags & T.SymbolFlags.Optional)) required.push(key);
    }
    const out: JsonSchema = { type: "object", properties };
    if (required.length > 0) out.required = required;
    const index = checker.getIndexInfosOfType(t).find((i) => i.keyType.flags & T.TypeFlags.String);
    if (index) {
      const value = this.convert(this.withoutUndefined(index.type).type, depth + 1);
      if (Object.keys(value).length > 0) out.additionalProperties = value;
    }
    return out;
  }

  /**
   * Named types are described once under `defs` and referenced; anonymous ones inline, and so do
   * the standard library's helpers (`Record<string, number>`, `Partial<T>`): their name says nothing.
   */
  private named(t: ts.Type, depth: number, build: () => JsonSchema): JsonSchema {
    const symbol = t.aliasSymbol ?? t.getSymbol();
    const anonymous = !symbol || symbol.getName().startsWith("__") || isStandardLibrary(symbol);
    if (anonymous) {
      if (this.active.has(t)) return unrepresentable("a recursive anonymous type; give it a name (interface or type alias)");
      this.active.add(t);
      try {
        return build();
      } finally {
        this.active.delete(t);
      }
    }
    let name = this.names.get(t);
    if (name === undefined) {
      name = this.defName(this.checker.typeToString(t));
      this.names.set(t, name);
      this.defs[name] = {}; // placeholder: a self-reference inside resolves to this name
      this.defs[name] = build();
    }
    return { $ref: `#/$defs/${name}` };
  }

  private defName(text: string): string {
    const base = text.replace(/[^A-Za-z0-9_.-]+/g, "_").replace(/^_+|_+$/g, "") || "Type";
    let name = base;
    for (let i = 2; name in this.defs; i++) name = `${base}_${i}`;
    return name;
  }
}
