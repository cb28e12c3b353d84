// Deploy-time types → JSON Schema (TypeScript compiler API), validation messages, and rebuilding
// plain JSON into the declared rich types. The end-to-end use is in test/platform/serving/plain-json.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deriveTypes } from "../../src/schema/from-ts.ts";
import { revive } from "../../src/schema/revive.ts";
import { SchemaValidator } from "../../src/schema/validate.ts";
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "nbx-schema-"));
  dirs.push(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "p", type: "module" }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  // A stand-in for nbox's declarations (the shape its typings give), so this test reads only its own files.
  const nbox = join(dir, "node_modules", "nbox");
  mkdirSync(nbox, { recursive: true });
  writeFileSync(join(nbox, "package.json"), JSON.stringify({ name: "nbox", type: "module", types: "index.d.ts" }));
  writeFileSync(join(nbox, "index.d.ts"), NBOX_TYPES);
  return dir;
}

const NBOX_TYPES = `export declare class Operator { forward(...args: any[]): unknown; }
export declare function operator<F extends Function>(fn: F): Operator & { forward: F; readonly fn: F };
export declare function operator(opts?: object): <C extends abstract new (...a: any[]) => any>(cls: C, context?: ClassDecoratorContext) => C;
`;

const OPS = `import { operator, Operator } from "nbox";
import type { Shape } from "./shapes.ts";
export interface Tree { label: string; kids: Tree[] }
export type Pair = [name: string, score?: number];
@operator()
export class Svc {
  shapes: Shape[] = [];
  #hidden = 1;
  protected prot = 2;
  private priv = 3;
  maybe?: string;
  tree(t: Tree): Tree { return t; }
  pair(p: Pair, ...rest: boolean[]): Record<string, number> { return {}; }
  both(x: { a: number } & { b?: string }): "yes" | "no" | 3 { return "yes"; }
  async later(ms = 5, opt?: string, u: number | undefined = undefined): Promise<Shape | undefined> { return undefined; }
  same<T extends string>(x: T): T { return x; }
  over(x: number): number;
  over(x: string): string;
  over(x: unknown): unknown { return x; }
  errs(): RangeError { return new RangeError("r"); }
  nul(x: string | null): null { return null; }
}
export const fn = operator(function fn(a: number, b = "x") { return [a, b] as const; });
export class Op extends Operator { forward(x: Date): Promise<bigint> { return Promise.resolve(1n); } }
`;
const SHAPES = `export type Shape = { kind: "circle"; r: number } | { kind: "square"; side: number };\n`;

describe("deploy-time schemas from TypeScript", () => {
  it("reads parameters, results, fields and which parameters may be left out", async () => {
    const dir = project({ "ops.ts": OPS, "shapes.ts": SHAPES });
    const file = join(dir, "ops.ts");
    const methods = ["tree", "pair", "both", "later", "same", "over", "errs", "nul"];
    const { schemas, optional } = await deriveTypes({ file, exportName: "Svc", kind: "class", methods, forward: false });
    const m = schemas.methods;
    assert.deepEqual(schemas.defs.Tree, { type: "object", properties: { label: { type: "string" }, kids: { type: "array", items: { $ref: "#/$defs/Tree" } } }, required: ["label", "kids"] });
    assert.deepEqual(m.tree, { params: [{ $ref: "#/$defs/Tree" }], returns: { $ref: "#/$defs/Tree" } });
    assert.deepEqual(m.pair!.params[0], { type: "array", prefixItems: [{ type: "string" }, { type: "number" }], minItems: 1, maxItems: 2 });
    assert.deepEqual(m.pair!.rest, { type: "boolean" });
    assert.deepEqual(m.pair!.returns, { type: "object", properties: {}, additionalProperties: { type: "number" } });
    assert.deepEqual(m.both!.params[0], { type: "object", properties: { a: { type: "number" }, b: { type: "string" } }, required: ["a"] });
    assert.deepEqual(m.both!.returns, { enum: ["yes", "no", 3] });
    assert.deepEqual(optional.later, [true, true, true]);
    assert.deepEqual(m.later!.params, [{ type: "number" }, { type: "string" }, { type: "number" }]);
    assert.equal(m.later!.returnsOptional, true, "Promise<T | undefined>: the value may be absent");
    assert.deepEqual(m.later!.returns, { $ref: "#/$defs/Shape" });
    assert.equal((schemas.defs.Shape!.anyOf as unknown[]).length, 2);
    assert.deepEqual(m.same!.params, [{ type: "string" }], "a type parameter falls back to its constraint");
    assert.match(schemas.notes!.join("\n"), /over\(\) has 2 overloads/);
    assert.equal(m.errs!.returns!["x-nbox-type"], "Error");
    assert.deepEqual(m.nul, { params: [{ anyOf: [{ type: "string" }, { type: "null" }] }], returns: { type: "null" } });
    assert.deepEqual(Object.keys(schemas.fields), ["shapes", "maybe"], "public data fields only (no #, private, protected, methods)");
    assert.deepEqual(schemas.fields.maybe, { type: "string" });
  });

  it("forward of a function operator and of an Operator subclass; the output is deterministic", async () => {
    const dir = project({ "ops.ts": OPS, "shapes.ts": SHAPES });
    const file = join(dir, "ops.ts");
    const fn = await deriveTypes({ file, exportName: "fn", kind: "fn", methods: [], forward: true });
    assert.deepEqual(fn.optional.forward, [false, true]);
    assert.deepEqual(fn.schemas.forward!.params, [{ type: "number" }, { type: "string" }]);
    const op = await deriveTypes({ file, exportName: "Op", kind: "operator", methods: [], forward: true });
    assert.deepEqual(op.schemas.forward, { params: [{ type: "string", format: "date-time", "x-nbox-type": "Date" }], returns: { type: "string", pattern: "^-?[0-9]+$", "x-nbox-type": "bigint" } });
    const again = await deriveTypes({ file, exportName: "Svc", kind: "class", methods: ["tree", "pair", "later"], forward: false });
    const once = await deriveTypes({ file, exportName: "Svc", kind: "class", methods: ["tree", "pair", "later"], forward: false });
    assert.equal(JSON.stringify(again), JSON.stringify(once));
  });

  it("what cannot be read is said in notes, never thrown", async () => {
    const dir = project({ "ops.ts": OPS, "shapes.ts": SHAPES });
    const r = await deriveTypes({ file: join(dir, "ops.ts"), exportName: "Missing", kind: "class", methods: ["x"], forward: false });
    assert.deepEqual(r.schemas.methods, {});
    assert.match(r.schemas.notes![0]!, /no schemas: .*no export "Missing"/);
    const js = project({ "ops.js": "export class Plain { add(a, b) { return a + b; } }\n" });
    const p = await deriveTypes({ file: join(js, "ops.js"), exportName: "Plain", kind: "class", methods: ["add"], forward: false });
    assert.deepEqual(p.schemas.methods.add!.params, [{}, {}], "plain JavaScript: any value");
  });
});

describe("schema checks and rebuilding plain JSON", () => {
  const defs = { Note: { type: "object", properties: { title: { type: "string" }, at: { type: "string", format: "date-time", "x-nbox-type": "Date" } }, required: ["title"] } };

  it("names where a value does not fit and what was expected", () => {
    const v = new SchemaValidator(defs);
    assert.equal(v.check({ $ref: "#/$defs/Note" }, { title: "t" }, "note"), undefined);
    assert.deepEqual(v.check({ type: "array", items: { $ref: "#/$defs/Note" } }, [{ title: "t" }, { title: 1 }], "notes"), { path: "notes[1].title", message: "must be string (got 1)" });
    assert.deepEqual(v.check({ $ref: "#/$defs/Note" }, { title: "t", at: "soon" }, "n"), { path: "n.at", message: 'must be a date (ISO 8601 string) (got "soon")' });
    assert.deepEqual(v.check({ anyOf: [{ type: "string" }, { $ref: "#/$defs/Note" }] }, 5, "x"), { path: "x", message: "must be string or Note (got 5)" });
    assert.equal(v.check({ type: "number" }, NaN, "n"), undefined, "a non-finite number from the SDK is still a number");
  });

  it("rebuilds declared rich types from plain JSON", () => {
    const note = revive({ title: "t", at: "2024-01-01T00:00:00.000Z" }, { $ref: "#/$defs/Note" }, defs) as { at: Date };
    assert.ok(note.at instanceof Date && note.at.getTime() === Date.UTC(2024, 0, 1));
    const entries = { anyOf: [{ type: "array", items: { type: "array", prefixItems: [{ type: "string", "x-nbox-type": "bigint" }, { type: "string", "x-nbox-type": "Date" }] } }, { type: "object", maxProperties: 0 }], "x-nbox-type": "Map" };
    const m = revive([["5", "1970-01-01T00:00:00.000Z"]], entries, {}) as Map<bigint, Date>;
    assert.ok(m instanceof Map && m.get(5n) instanceof Date);
    assert.deepEqual(revive("x", { anyOf: [{ type: "string" }, { type: "string", "x-nbox-type": "Date" }] }, {}), "x", "ambiguous unions leave the value as it came");
    assert.ok(revive("2024-01-01", { anyOf: [{ type: "number" }, { type: "string", "x-nbox-type": "Date" }] }, {}) instanceof Date);
    const bytes = revive("AQI=", { type: "string", "x-nbox-type": "bytes" }, {}) as Uint8Array;
    assert.ok(bytes instanceof Uint8Array && !Buffer.isBuffer(bytes) && bytes.length === 2);
    assert.ok(Buffer.isBuffer(revive("AQI=", { type: "string", "x-nbox-type": "Buffer" }, {})));
    const obj = revive(JSON.parse('{"__proto__": {"x": 1}}'), { type: "object", additionalProperties: { type: "number" } }, {}) as object;
    assert.equal(Object.getPrototypeOf(obj), Object.prototype, "a __proto__ key stays a key");
  });
});
