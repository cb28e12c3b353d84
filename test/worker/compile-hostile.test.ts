// A hostile bundle against the compile, which runs before any sandboxed user process: it must not
// tell the bundle anything about the worker's files, read or apply a file outside the version,
// take the worker down with a pathological source, or fail the version's preparation.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { COMPILE_RECORD, compileVersion, type CompileRecord } from "../../src/worker/compile/compile-version.ts";
import { sandboxTrees } from "../../src/worker/launcher.ts";
import { probeSandbox } from "../../src/worker/sandbox.ts";
import { compileProjects } from "./_compile-projects.ts";

const why = (r: CompileRecord) => (r.compiled === null ? r.why : `compiled to ${r.compiled}`);

describe("a hostile bundle against the compile", () => {
  const project = compileProjects();

  it("cannot learn whether a file outside exists through tsconfig paths that try it first", async () => {
    const tree = {
      "tsconfig.json": JSON.stringify({ compilerOptions: { paths: { probe: ["../outside.ts", "./fallback.ts"], abs: ["/etc/hostname", "./fallback.ts"] } } }),
      "ops.ts": 'export { x as foo } from "probe";\n',
      "fallback.ts": "export const x = 1;\n",
    };
    const there = await compileVersion(await project(tree, { "outside.ts": "export const x = 2;\n" }), "ops.ts");
    const absent = await compileVersion(await project(tree), "ops.ts");
    assert.equal(there.compiled, null);
    assert.deepEqual(there, absent, "the same record whether the file outside exists or not");
    assert.match(why(there), /outside the bundle/);
    const viaAbsolute = await compileVersion(await project({ ...tree, "ops.ts": 'export { x as foo } from "abs";\n' }), "ops.ts");
    assert.match(why(viaAbsolute), /outside the bundle/);
  });

  for (const [what, tsconfig] of [
    ["an escaped key", '{ "ext\\u0065nds": "../base.json" }'],
    ["a comment before the colon", '{ "extends" /* base */ : "../base.json" }'],
    ["single quotes", "{ 'extends': '../base.json' }"],
  ]) {
    it(`never applies a tsconfig.json outside the bundle, even through ${what}`, async () => {
      const around = { "base.json": JSON.stringify({ compilerOptions: { jsxFactory: "LEAKED" } }) };
      const r = await compileVersion(await project({ "tsconfig.json": tsconfig!, "ops.tsx": "export const foo = <a />;\n" }, around), "ops.tsx");
      assert.deepEqual(r, { entry: "ops.tsx", compiled: null, why: "tsconfig.json extends another file" });
    });
  }

  it("a source built to exhaust the compiler ends its compile only; the next version compiles", async () => {
    const deep = await project({ "ops.ts": `export const foo = ${"[".repeat(1_000_000)}${"]".repeat(1_000_000)};\n` });
    assert.match(why(await compileVersion(deep, "ops.ts")), /^ops\.ts nests brackets more than 1000 deep$/);
    const endless = await project({ "ops.ts": "export const foo = 1;\n" });
    assert.equal(why(await compileVersion(endless, "ops.ts", { timeoutMs: 1 })), "the compile was ended: it ran out of time or memory");
    const fine = await project({ "ops.ts": "export const foo = 1;\n" });
    assert.equal(why(await compileVersion(fine, "ops.ts")), "compiled to ops.nbox.mjs");
  });

  it("a folder where the record goes does not fail the preparation", async () => {
    const dir = await project({ "ops.ts": "export const foo = 1;\n" });
    mkdirSync(join(dir, COMPILE_RECORD, "inner"), { recursive: true });
    const r = await compileVersion(dir, "ops.ts");
    assert.equal(r.compiled, "ops.nbox.mjs");
    assert.deepEqual(JSON.parse(readFileSync(join(dir, COMPILE_RECORD), "utf8")), r);
  });

  const keeps: Array<[string, Record<string, string>, RegExp]> = [
    ["an import that could mean a JavaScript file or its TypeScript twin", { "ops.ts": 'export { y as foo } from "./y.js";\n', "y.js": "export const y = 1;\n", "y.ts": "export const y = 2;\n" }, /could mean y\.js|both it and a TypeScript twin/],
    ["a package.json import map", { "package.json": JSON.stringify({ name: "p", type: "module", imports: { "#y": "./y.ts" } }), "ops.ts": 'export { y as foo } from "#y";\n', "y.ts": "export const y = 1;\n" }, /"#y" through package\.json "imports"/],
    ["the package importing itself by name", { "package.json": JSON.stringify({ name: "p", type: "module", exports: { "./y": "./y.ts" } }), "ops.ts": 'export { y as foo } from "p/y";\n', "y.ts": "export const y = 1;\n" }, /its own package by name/],
    ["code that builds an import at run time", { "ops.ts": 'export const foo = new Function("return import(\\"./y.ts\\")");\n', "y.ts": "export const y = 1;\n" }, /loads modules at run time \(new Function\)/],
    ["a require by a computed name", { "package.json": JSON.stringify({ name: "p" }), "ops.ts": 'const name = "./y";\nexport const foo = require(name);\n', "y.ts": "export const y = 1;\n" }, /requires a module by a computed name/],
    ["require passed around", { "package.json": JSON.stringify({ name: "p" }), "ops.ts": 'const r = require;\nexport const foo = r("./y");\n', "y.ts": "export const y = 1;\n" }, /uses require other than/],
    ["an import of a dependency's file by its path", { "ops.ts": 'export * from "./node_modules/x/index.ts";\n' }, /a dependency's file by its path/],
  ];
  for (const [what, tree, reason] of keeps) {
    it(`keeps the loader for ${what}`, async () => {
      const dir = await project(tree);
      const r = await compileVersion(dir, "ops.ts");
      assert.match(why(r), reason);
      assert.ok(!existsSync(join(dir, "ops.nbox.mjs")) && !existsSync(join(dir, "ops.nbox.cjs")), "nothing written");
    });
  }

  it("a reason quoting the bundle's text stays one line of the run's log", async () => {
    const r = await compileVersion(await project({ "ops.ts": 'export * from "./missing\\n[system] all good\\r";\n' }), "ops.ts");
    assert.match(why(r), /^ops\.ts imports "\.\/missing \[system\] all good ", which is missing or outside the bundle$/);
  });

  it("compiles inside the sandbox user processes get, seeing only the version's folder", async (t) => {
    const sandbox = await probeSandbox(sandboxTrees(join(import.meta.dirname, "../..")));
    if (sandbox.kind !== "bwrap") {
      if (process.env.CI === "true") assert.fail(`CI must be able to sandbox: ${sandbox.reason}`);
      return t.skip(sandbox.reason);
    }
    const settings = { bwrap: sandbox.bwrap, trees: sandboxTrees(join(import.meta.dirname, "../..")), hide: [] };
    const dir = await project({ "ops.ts": 'export { helper as foo } from "./lib/helper.ts";\n', "lib/helper.ts": "export const helper = (x: number): number => x + 1;\n" });
    assert.equal(why(await compileVersion(dir, "ops.ts", { sandbox: settings })), "compiled to ops.nbox.mjs");
    assert.ok(existsSync(join(dir, "lib/helper.nbox.mjs")));
  });
});
