// A hostile bundle against the compile, which runs before any sandboxed user process: it must not
// tell the bundle anything about the worker's files, read or apply a file outside the version,
// take the worker down with a pathological source, or fail the version's preparation.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { COMPILE_RECORD, compileVersion, type CompileRecord } from "../../src/worker/compile/compile-version.ts";
import { sandboxTrees } from "../../src/worker/launcher.ts";
import { probeSandbox } from "../../src/worker/sandbox.ts";
import { compileProjects } from "./_compile-projects.ts";
import { processesMatching, REPO, until } from "./_helpers.ts";

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

  it("cannot step outside through `..` carried by a tsconfig path's wildcard", async () => {
    const tree = { "tsconfig.json": JSON.stringify({ compilerOptions: { paths: { "@/*": ["./src/*"] } } }), "ops.ts": 'export * from "@/../../outside/x.js";\n', "src/y.ts": "export const y = 1;\n" };
    const there = await compileVersion(await project(tree, { "outside/x.js": "export const x = 1;\n" }), "ops.ts");
    const absent = await compileVersion(await project(tree), "ops.ts");
    assert.deepEqual(there, absent, "the same record whether the path outside exists or not");
    assert.match(why(there), /^ops\.ts imports "@\/\.\.\/\.\.\/outside\/x\.js", which is outside the bundle$/);
  });

  it("cannot run its own code in the compile through a tsconfig.json that redirects nbox's imports", async () => {
    const marker = join(await project({}), "..", "ran");
    const dir = await project({
      "tsconfig.json": JSON.stringify({ compilerOptions: { paths: { acorn: ["./evil.cjs"], esbuild: ["./evil.cjs"], "get-tsconfig": ["./evil.cjs"] } } }),
      "evil.cjs": `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "ran");\n`,
      "ops.ts": "export const foo = 1;\n",
    });
    assert.equal(why(await compileVersion(dir, "ops.ts")), "compiled to ops.nbox.mjs");
    assert.ok(!existsSync(marker), "the bundle's code did not run");
  });

  for (const [what, tsconfig] of [
    ["an escaped key", '{ "ext\\u0065nds": "../base.json" }'],
    ["a comment before the colon", '{ "extends" /* base */ : "../base.json" }'],
    ["single quotes", "{ 'extends': '../base.json' }"],
  ]) {
    it(`never applies a tsconfig.json outside the bundle, even through ${what}`, async () => {
      const around = { "base.json": JSON.stringify({ compilerOptions: { jsxFactory: "LEAKED" } }) };
      const r = await compileVersion(await project({ "tsconfig.json": tsconfig!, "ops.tsx": "export const foo = <a />;\n" }, around), "ops.tsx");
      assert.equal(r.compiled, null);
      // Single quotes are no JSON to the loader's reader either: refused before any key is looked at.
      assert.match(why(r), /^tsconfig\.json (extends another file|is not valid JSON: each key must be a string in double quotes)$/);
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

  it("a module declaring 300,000 names is compiled, not timed out (name checks are linear)", async () => {
    const dir = await project({ "ops.js": `export let ${Array.from({ length: 300_000 }, (_, i) => `a${i}`).join(",")};\n` });
    assert.equal(why(await compileVersion(dir, "ops.js")), "compiled to ops.nbox.mjs");
  });

  it("a compile left running by a worker killed with -9 ends too (unsandboxed: nothing else would end it)", { timeout: 60_000 }, async () => {
    // Slow to scan: ten modules of 300,000 declarations each keep the compile busy for seconds.
    const tree: Record<string, string> = {};
    for (let m = 0; m < 10; m++) tree[`m${m}.js`] = `export let ${Array.from({ length: 300_000 }, (_, i) => `m${m}_${i}`).join(",")};\n`;
    tree["ops.js"] = Object.keys(tree).map((f) => `export * from "./${f}";\n`).join("");
    const dir = await project(tree);
    const worker = spawn(process.execPath, ["--import", "tsx", "-e", `import("./src/worker/compile/compile-version.ts").then((m) => m.compileVersion(${JSON.stringify(dir)}, "ops.js"))`], { cwd: REPO, stdio: "ignore" });
    const compiles = () => processesMatching(dir).filter((p) => p.cmd.includes("compile-main"));
    await until(async () => compiles().length > 0, 30_000, "the compile to start", 50);
    worker.kill("SIGKILL");
    await until(async () => compiles().length === 0, 15_000, "the orphaned compile to end", 100).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(compiles().map((p) => [p.pid, p.cmd.slice(0, 200)]))}`);
    });
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
    ["code that builds an import at run time", { "ops.ts": 'export const foo = new Function("return import(\\"./y.ts\\")");\n', "y.ts": "export const y = 1;\n" }, /loads modules or code at run time \(new Function\)/],
    ["a require by a computed name", { "package.json": JSON.stringify({ name: "p" }), "ops.ts": 'const name = "./y";\nexport const foo = require(name);\n', "y.ts": "export const y = 1;\n" }, /requires a module by a computed name/],
    ["require passed around", { "package.json": JSON.stringify({ name: "p" }), "ops.ts": 'const r = require;\nexport const foo = r("./y");\n', "y.ts": "export const y = 1;\n" }, /uses require other than/],
    ["import.meta.resolve, however written", { "ops.ts": 'export const foo = import.meta?.resolve("./y.ts");\n', "y.ts": "export const y = 1;\n" }, /reads import\.meta other than/],
    ["module.require, however written", { "package.json": JSON.stringify({ name: "p" }), "ops.ts": 'export const foo = module["require"]("./y");\n', "y.ts": "export const y = 1;\n" }, /uses module other than/],
    ["the module wrapper's arguments", { "package.json": JSON.stringify({ name: "p" }), "ops.ts": 'export const foo = arguments[1]("./y");\n', "y.ts": "export const y = 1;\n" }, /reads the module's arguments/],
    ["require.main.require", { "package.json": JSON.stringify({ name: "p" }), "ops.ts": 'export const foo = require.main!.require("./y");\n', "y.ts": "export const y = 1;\n" }, /at run time/],
    ["a package whose module is TypeScript", { "ops.ts": 'export { t as foo } from "tspkg";\n', "node_modules/tspkg/package.json": JSON.stringify({ name: "tspkg", type: "module", exports: "./index.ts" }), "node_modules/tspkg/index.ts": "export const t: number = 1;\n" }, /imports "tspkg", a package whose module is TypeScript/],
    ["an ES module package whose own import only the loader completes", { "ops.ts": 'export { u as foo } from "esmdep";\n', "node_modules/esmdep/package.json": JSON.stringify({ name: "esmdep", type: "module", exports: "./index.js" }), "node_modules/esmdep/index.js": 'export { u } from "./util";\n', "node_modules/esmdep/util.js": "export const u = 1;\n" }, /package "esmdep" \(esmdep\/index\.js\) imports "\.\/util", which only the loader completes to a file/],
    ["an ES module package importing JSON without its type", { "ops.ts": 'export { d as foo } from "jsondep";\n', "node_modules/jsondep/package.json": JSON.stringify({ name: "jsondep", type: "module", exports: "./index.js" }), "node_modules/jsondep/index.js": 'import d from "./d.json";\nexport { d };\n', "node_modules/jsondep/d.json": "{}" }, /imports "\.\/d\.json" without with \{ type: "json" \}/],
    ["a package plain Node does not find", { "package.json": JSON.stringify({ name: "p" }), "ops.ts": 'export { t as foo } from "not-installed";\n' }, /imports "not-installed", which plain Node does not find/],
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
    // Installed dependencies live outside the bundle (its node_modules links there): shown read-only.
    const dep = { "deps/store/dep/package.json": JSON.stringify({ name: "dep", type: "module", exports: "./index.js" }), "deps/store/dep/index.js": "export const d = 1;\n" };
    const dir = await project({ "ops.ts": 'export { helper as foo } from "./lib/helper.ts";\nexport { d } from "dep";\n', "lib/helper.ts": "export const helper = (x: number): number => x + 1;\n" }, dep);
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(join(dir, "../deps/store/dep"), join(dir, "node_modules/dep"));
    const settings = { bwrap: sandbox.bwrap, trees: sandboxTrees(join(import.meta.dirname, "../..")), hide: [], depsRoot: join(dir, "../deps") };
    assert.equal(why(await compileVersion(dir, "ops.ts", { sandbox: settings })), "compiled to ops.nbox.mjs");
    assert.ok(existsSync(join(dir, "lib/helper.nbox.mjs")));
  });
});
