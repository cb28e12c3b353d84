// A version's modules compiled ahead run under plain Node exactly as through the loader (imports as
// written in TypeScript, each module in its own folder, stacks naming the .ts lines); a graph plain
// Node could not run keeps the loader, with the reason recorded, and nothing written beside it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { COMPILE_RECORD, compiledEntry, compileVersion } from "../../src/worker/compile/compile-version.ts";
import { tempDir, writeTree } from "../bundle/_helpers.ts";

const ESM = JSON.stringify({ name: "p", type: "module" });

describe("compiling a version ahead", () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups) await c();
  });
  /** A bundle folder holding `tree`, inside a folder holding `around` (files outside the bundle). */
  async function project(tree: Record<string, string>, around: Record<string, string> = {}): Promise<string> {
    const { dir, cleanup } = await tempDir("nbox-compile-");
    cleanups.push(cleanup);
    await writeTree(dir, around);
    await writeTree(join(dir, "bundle"), { "package.json": ESM, ...tree });
    return join(dir, "bundle");
  }

  it("compiles the entry's graph beside its sources; plain Node runs it with the imports, folders and stack lines of the sources", async () => {
    const dir = await project({
      "ops.ts": [
        'import { helper, where } from "./lib/helper.js";',
        'import { other } from "./lib/other";',
        'import { mts } from "./lib/modern.mjs";',
        'import type { Shape } from "./lib/types.ts";',
        "export const foo = async (x: number): Promise<number> => helper(x) + other() + mts;",
        "export async function lazy(): Promise<string> { const m = await import(\"./lib/late.ts\"); return m.late; }",
        "export { where };",
        "export const shape: Shape = { n: 1 };",
        "",
      ].join("\n"),
      "lib/helper.ts": ["export const helper = (x: number): number => x * 2;", "export const where = import.meta.url;", "export function boom(): never {", '  throw new Error("boom");', "}", ""].join("\n"),
      "lib/other.ts": "export function other(): number { return 1; }\n",
      "lib/modern.mts": "export const mts: number = 10;\n",
      "lib/late.ts": 'export const late: string = "late";\n',
      "lib/types.ts": "export interface Shape { n: number }\n",
      "unused.ts": "this is not even TypeScript (",
    });
    const record = await compileVersion(dir, "ops.ts");
    assert.deepEqual(record, { entry: "ops.ts", compiled: "ops.nbox.mjs" });
    assert.deepEqual(JSON.parse(readFileSync(join(dir, COMPILE_RECORD), "utf8")), record);
    assert.ok(existsSync(join(dir, "lib/helper.nbox.mjs")) && existsSync(join(dir, "lib/late.nbox.mjs")), "each module of the graph is compiled beside its source");
    assert.ok(!existsSync(join(dir, "unused.nbox.mjs")), "modules outside the graph are left alone");

    const script = [
      `const m = await import(${JSON.stringify(join(dir, "ops.nbox.mjs"))});`,
      `const h = await import(${JSON.stringify(join(dir, "lib/helper.nbox.mjs"))});`,
      "let stack = '';",
      "try { h.boom(); } catch (e) { stack = e.stack; }",
      "console.log(JSON.stringify({ foo: await m.foo(3), lazy: await m.lazy(), where: m.where, shape: m.shape, stack }));",
    ].join("\n");
    const r = spawnSync(process.execPath, ["--enable-source-maps", "--input-type=module", "-e", script], { cwd: dir, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { foo: number; lazy: string; where: string; shape: unknown; stack: string };
    assert.equal(out.foo, 17);
    assert.equal(out.lazy, "late");
    assert.deepEqual(out.shape, { n: 1 });
    assert.ok(out.where.startsWith(`file://${join(dir, "lib")}/`), `import.meta.url names the module's own folder: ${out.where}`);
    assert.match(out.stack, new RegExp(`${join(dir, "lib", "helper.ts").replace(/[.]/g, "\\.")}:4:9`), "the stack names the source's line");
  });

  it("compiles a CommonJS package to CommonJS: require, __dirname and an ES module of the graph as Node loads them", async () => {
    const dir = await project({
      "package.json": JSON.stringify({ name: "p" }),
      "ops.ts": [
        'import { helper } from "./lib/helper";',
        'import legacy = require("./lib/legacy.cjs");',
        "export const foo = (x: number): number => helper(x) + legacy.n;",
        "export const here: string = __dirname;",
        'export const later = async (): Promise<number> => (await import("./lib/esm.mjs")).m;',
        "",
      ].join("\n"),
      "lib/helper.ts": ["export function helper(x: number): number {", "  if (x < 0) throw new Error(\"negative\");", "  return x * 2;", "}", ""].join("\n"),
      "lib/legacy.cjs": "module.exports = { n: 100 };\n",
      "lib/esm.mts": "export const m: number = 5;\n",
    });
    const record = await compileVersion(dir, "ops.ts");
    assert.deepEqual(record, { entry: "ops.ts", compiled: "ops.nbox.cjs" });
    const script = [
      `const m = require(${JSON.stringify(join(dir, "ops.nbox.cjs"))});`,
      "let stack = '';",
      "try { m.foo(-1); } catch (e) { stack = e.stack; }",
      "m.later().then((later) => console.log(JSON.stringify({ foo: m.foo(1), here: m.here, later, stack })));",
    ].join("\n");
    const r = spawnSync(process.execPath, ["--enable-source-maps", "-e", script], { cwd: dir, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { foo: number; here: string; later: number; stack: string };
    assert.deepEqual([out.foo, out.here, out.later], [102, dir, 5]);
    assert.match(out.stack, new RegExp(`${join(dir, "lib", "helper.ts").replace(/[.]/g, "\\.")}:2:\\d+`), "the stack names the source's line");
  });

  const keeps: Array<[string, Record<string, string>, RegExp]> = [
    ["import.meta in CommonJS", { "package.json": JSON.stringify({ name: "p" }), "ops.ts": "export const foo = import.meta.url;\n" }, /ops\.ts:1:\d+: .*import\.meta/],
    ["top-level await in CommonJS", { "package.json": JSON.stringify({ name: "p" }), "ops.ts": "export const foo = await Promise.resolve(1);\n" }, /the compiler failed: ops\.ts:1:\d+: Top-level await/],
    ["a JSON import", { "ops.ts": 'import d from "./d.json" with { type: "json" };\nexport const foo = d;\n', "d.json": "{}" }, /d\.json is not a module/],
    ["an import by a computed name", { "ops.ts": 'export const foo = async (n: string) => import("./" + n + ".ts");\n' }, /ops\.ts imports a module by a computed name/],
    ["a file where a compiled one would go", { "ops.ts": "export const foo = 1;\n", "ops.nbox.mjs": "export const foo = 2;\n" }, /already has a file ops\.nbox\.mjs/],
    ["an unreadable package.json", { "package.json": "{ torn", "ops.ts": "export const foo = 1;\n" }, /^package\.json is not valid JSON$/],
    ["a tsconfig.json that extends another", { "tsconfig.json": '{ "extends": "../base.json" }', "ops.ts": "export const foo = 1;\n" }, /tsconfig\.json extends another file/],
    ["a syntax error", { "ops.ts": "export const foo = (;\n" }, /the compiler failed/],
  ];
  for (const [what, tree, why] of keeps) {
    it(`keeps the loader for ${what}, says why and writes no module`, async () => {
      const dir = await project(tree);
      const before = readdirSync(dir, { recursive: true }).sort();
      const record = await compileVersion(dir, "ops.ts");
      assert.equal(record.compiled, null);
      assert.match(record.compiled === null ? record.why : "", why);
      assert.deepEqual(readdirSync(dir, { recursive: true }).sort(), [...before, COMPILE_RECORD].sort());
      assert.deepEqual(compiledEntry(dir, join(dir, "ops.ts")), { why: record.compiled === null ? record.why : "" });
    });
  }

  it("reads nothing outside the bundle: not a module it imports, whose text never reaches the record, nor a tsconfig.json above it", async () => {
    const around = { "secret.ts": "export const x = SECRET_TOKEN_42 (;\n", "tsconfig.json": JSON.stringify({ compilerOptions: { baseUrl: ".", paths: { alias: ["./bundle/lib/x.ts"] } } }) };
    const outside = await project({ "ops.ts": 'export { x as foo } from "../secret.ts";\n' }, around);
    const refused = await compileVersion(outside, "ops.ts");
    assert.equal(refused.compiled, null);
    assert.equal(refused.compiled === null && refused.why, 'ops.ts imports "../secret.ts", which is outside the bundle', "refused before it was read");
    assert.doesNotMatch(JSON.stringify(refused), /SECRET_TOKEN_42/);
    // Whether a file outside exists or not, the record says the same.
    const missing = await compileVersion(await project({ "ops.ts": 'export { x as foo } from "../secret.ts";\n' }, {}), "ops.ts");
    assert.deepEqual(missing, refused);

    const dir = await project({ "ops.ts": 'export { x as foo } from "alias";\n', "lib/x.ts": "export const x = 1;\n" }, around);
    // Applied, the tsconfig.json above would have made "alias" the bundle's lib/x.ts; unapplied, it is a package, and none is installed.
    assert.deepEqual(await compileVersion(dir, "ops.ts"), { entry: "ops.ts", compiled: null, why: 'ops.ts imports "alias", which plain Node does not find (the loader may)' });
  });

  it("never writes through a link in the bundle, even one pointing nowhere (yet)", async () => {
    const dir = await project({ "ops.ts": "export const foo = 1;\n" });
    symlinkSync("../escaped.mjs", join(dir, "ops.nbox.mjs"));
    assert.equal((await compileVersion(dir, "ops.ts")).compiled, null);
    assert.ok(!existsSync(join(dir, "..", "escaped.mjs")), "nothing was written outside the bundle");
    const linked = await project({ "ops.ts": "export const foo = 1;\n" }, { "outside-tsconfig.json": "{}" });
    symlinkSync("../outside-tsconfig.json", join(linked, "tsconfig.json"));
    assert.deepEqual(await compileVersion(linked, "ops.ts"), { entry: "ops.ts", compiled: null, why: "tsconfig.json is a link" });
  });

  it("applies the bundle's own tsconfig.json (comments and all), as the loader would", async () => {
    const tsconfig = '{\n  // aliases\n  "compilerOptions": { "baseUrl": ".", "paths": { "@lib/*": ["./lib/*"] }, },\n}\n';
    const dir = await project({ "tsconfig.json": tsconfig, "ops.ts": 'export { x as foo } from "@lib/x.ts";\n', "lib/x.ts": "export const x = 1;\n" });
    assert.equal((await compileVersion(dir, "ops.ts")).compiled, "ops.nbox.mjs");
    assert.match(readFileSync(join(dir, "ops.nbox.mjs"), "utf8"), /from"\.\/lib\/x\.nbox\.mjs"/);
  });

  it("keeps the loader for a bundle with no package.json (its type would come from a folder above it)", async () => {
    const dir = await project({ "ops.ts": "export const foo = 1;\n" });
    rmSync(join(dir, "package.json"));
    const record = await compileVersion(dir, "ops.ts");
    assert.deepEqual(record, { entry: "ops.ts", compiled: null, why: "the bundle has no package.json" });
  });

  it("the compiled entry is used only for the recorded entry, and only inside the version's folder", async () => {
    const dir = await project({ "ops.ts": "export const foo = 1;\n", "other.ts": "export const bar = 2;\n" });
    assert.deepEqual(compiledEntry(dir, join(dir, "ops.ts")), {}, "no record: the loader");
    await compileVersion(dir, "ops.ts");
    assert.deepEqual(compiledEntry(dir, join(dir, "ops.ts")), { file: join(dir, "ops.nbox.mjs") });
    assert.deepEqual(compiledEntry(dir, "ops.ts"), { file: join(dir, "ops.nbox.mjs") }, "relative to the folder");
    assert.deepEqual(compiledEntry(dir, join(dir, "other.ts")), {}, "another module: the loader");
    for (const compiled of ["../outside.mjs", "/etc/passwd", "missing.mjs", "."]) {
      writeFileSync(join(dir, COMPILE_RECORD), JSON.stringify({ entry: "ops.ts", compiled }));
      assert.deepEqual(compiledEntry(dir, join(dir, "ops.ts")), {}, compiled);
    }
    for (const record of ["null", "[]", '{"entry":1}', '{"entry":"ops.ts","compiled":7}', '{"entry":"ops.ts","compiled":null}']) {
      writeFileSync(join(dir, COMPILE_RECORD), record);
      assert.deepEqual(compiledEntry(dir, join(dir, "ops.ts")), {}, `not a record: ${record}`);
    }
    writeFileSync(join(dir, COMPILE_RECORD), "{ torn");
    assert.deepEqual(compiledEntry(dir, join(dir, "ops.ts")), {}, "an unreadable record: the loader");
  });
});
