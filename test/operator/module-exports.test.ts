// namedExports: an ESM namespace is its own exports; a CommonJS module's (seen by import() only as
// `default`, as esbuild's output is) are those of module.exports.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { namedExports } from "../../src/operator/module-exports.ts";

const dataModule = (code: string) => `data:text/javascript,${encodeURIComponent(code)}`;

describe("namedExports", () => {
  it("an ESM module: its namespace, default export and all", async () => {
    const ns = (await import(dataModule("export const a = 1; export default { b: 2 };"))) as Record<string, unknown>;
    assert.equal(namedExports(ns), ns);
  });

  it("a CommonJS module whose names Node cannot read: the properties of module.exports", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nbx-cjs-exports-"));
    try {
      // The shape esbuild gives a TypeScript module compiled to CommonJS.
      writeFileSync(join(dir, "m.cjs"), `var __defProp = Object.defineProperty; var m = {}; __defProp(m, "foo", { get: () => 42, enumerable: true }); module.exports = Object.assign(Object.create(Object.prototype), m);`);
      const ns = (await import(pathToFileURL(join(dir, "m.cjs")).href)) as Record<string, unknown>;
      assert.deepEqual(Object.keys(ns), ["default"], "Node sees no names: the case this is for");
      assert.equal(namedExports(ns).foo, 42);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an ESM module exporting only a default object is left alone unless it is a plain object", async () => {
    const ns = (await import(dataModule("export default class K {}"))) as Record<string, unknown>;
    assert.equal(namedExports(ns), ns);
  });
});
