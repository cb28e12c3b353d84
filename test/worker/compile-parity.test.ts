// A compiled version behaves as the loader runs its sources: the same program, run once through tsx
// and once from its compiled modules, prints the same thing.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { compileVersion } from "../../src/worker/compile/compile-version.ts";
import { compileProjects, runNode } from "./_compile-projects.ts";

const TSX = ["--import", import.meta.resolve("tsx")];

describe("a compiled version runs as through the loader", () => {
  const project = compileProjects();

  async function bothWays(tree: Record<string, string>, entry: string, read: string): Promise<{ loader: unknown; compiled: unknown }> {
    const dir = await project(tree);
    const record = await compileVersion(dir, entry);
    assert.equal(record.compiled === null ? record.why : "compiled", "compiled");
    const script = (file: string) => `const m = await import(${JSON.stringify(join(dir, file))}); console.log(JSON.stringify(${read}));`;
    return { loader: runNode(dir, script(entry), TSX), compiled: runNode(dir, script(record.compiled!)) };
  }

  it("keeps each module's own scope: a top-level const read too early throws, a pure-marked call still runs, classes keep their order", async () => {
    const { loader, compiled } = await bothWays(
      {
        "ops.ts": [
          'import { hits } from "./marks.ts";',
          "export const tdz = (() => { try { return later; } catch (e) { return (e as Error).name; } })();",
          "const later = 1;",
          "export const early = (() => { try { return new Late().n; } catch (e) { return (e as Error).name; } })();",
          "class Late { n = 2; }",
          "export const pure = hits();",
          "",
        ].join("\n"),
        "marks.ts": ["let n = 0;", "function mark(): number { n++; return n; }", "/* @__PURE__ */ mark();", "export const hits = (): number => n;", ""].join("\n"),
      },
      "ops.ts",
      "{ tdz: m.tdz, early: m.early, pure: m.pure }",
    );
    assert.deepEqual(loader, { tdz: "ReferenceError", early: "ReferenceError", pure: 1 });
    assert.deepEqual(compiled, loader);
  });

  it("names the same source line and column in a stack when the compiled line holds a rewritten import before the throw", async () => {
    const { loader, compiled } = await bothWays(
      {
        "ops.ts": 'import { a } from "./a.ts"; import { b } from "./lib/b.ts"; export function boom(): never { throw new Error(a + b); }\n',
        "a.ts": 'export const a: string = "a";\n',
        "lib/b.ts": 'export const b: string = "b";\n',
      },
      "ops.ts",
      '(() => { try { m.boom(); } catch (e) { return /ops\\.ts:\\d+:\\d+/.exec(e.stack)[0]; } })()',
    );
    assert.equal(loader, "ops.ts:1:99", "where `new Error` is");
    assert.equal(compiled, loader);
  });

  it("gives import() what the loader gives (a CommonJS module's ES default comes back unwrapped); import.meta, __filename and plain JavaScript as the loader has them", async () => {
    const { loader, compiled } = await bothWays(
      {
        "ops.ts": [
          'import { here as cjsHere } from "./c.cts";',
          'import { shown } from "./plain.js";',
          'import { kind } from "jspkg";',
          "export const out = async () => {",
          '  const lib = await import("./lib.cts");',
          '  const sub = await import("./sub/../lib.cts");',
          "  return { lib: typeof lib.default, same: lib === sub || lib.default === sub.default, url: import.meta.url.split(\"/\").pop(), file: import.meta.filename?.split(\"/\").pop(), cjsHere, shown, kind };",
          "};",
          "",
        ].join("\n"),
        "lib.cts": "export default function f(): number { return 1; }\n",
        "c.cts": 'export const here: string = require("node:path").basename(__filename);\n',
        "node_modules/jspkg/package.json": JSON.stringify({ name: "jspkg", exports: { import: "./esm.mjs", require: "./cjs.cjs" } }),
        "node_modules/jspkg/esm.mjs": 'export { kind } from "./kind.mjs";\n',
        "node_modules/jspkg/kind.mjs": 'export const kind = "esm";\n',
        "node_modules/jspkg/cjs.cjs": 'exports.kind = "cjs";\n',
        "plain.js": "function  spaced ( a ,b ) { return a + b }\nexport const shown = spaced.toString();\n",
      },
      "ops.ts",
      "await m.out()",
    );
    assert.deepEqual(loader, { lib: "function", same: true, url: "ops.ts", file: "ops.ts", cjsHere: "c.cts", shown: "function  spaced ( a ,b ) { return a + b }", kind: "esm" });
    assert.deepEqual(compiled, loader);
  });

  it("applies the tsconfig.json's options only to the files it includes", async () => {
    const fields = "class Base { set x(v: number) { calls.push(v); } }\nexport const calls: number[] = [];\nclass Derived extends Base { x = 1; }\nnew Derived();\n";
    const { loader, compiled } = await bothWays(
      {
        "tsconfig.json": '{ "compilerOptions": { "target": "ES2020", "useDefineForClassFields": false }, "include": ["src"] }',
        "src/ops.ts": 'import { calls as outside } from "../other/fields.ts";\nimport { calls as inside } from "./fields.ts";\nexport const setters = { inside: inside.length, outside: outside.length };\n',
        "src/fields.ts": fields,
        "other/fields.ts": fields,
      },
      "src/ops.ts",
      "m.setters",
    );
    assert.deepEqual(loader, { inside: 1, outside: 0 }, "through the loader, the included file assigns (its setter runs), the other defines");
    assert.deepEqual(compiled, loader);
  });

  it("runs a CommonJS package's modules as CommonJS, with require and module as the loader gives them", async () => {
    const { loader, compiled } = await bothWays(
      {
        "package.json": JSON.stringify({ name: "p" }),
        "ops.ts": 'import { n } from "./lib";\nconst legacy = require("./legacy.cjs");\nexport const out = { n, legacy: legacy.v, main: require.main === module, self: typeof exports };\n',
        "lib/index.ts": "export const n: number = 3;\n",
        "legacy.cjs": "module.exports = { v: 4 };\n",
      },
      "ops.ts",
      "m.default.out",
    );
    assert.deepEqual(loader, { n: 3, legacy: 4, main: false, self: "object" });
    assert.deepEqual(compiled, loader);
  });
});
