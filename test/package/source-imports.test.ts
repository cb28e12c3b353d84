// The control plane and the worker meet only through the shared contract, in the sources too: not
// even a type-only import (erased at build, so the module-graph test of the package cannot see it)
// may reach from one side into the other, nor from the shared folders into either side.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { REPO } from "../platform/jobs/_helpers.ts";

function sourcesUnder(folder: string): string[] {
  return readdirSync(join(REPO, folder), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => join(e.parentPath, e.name));
}

/** Repository-relative targets of the relative imports of `file` (static, type-only and dynamic). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm)].map((m) => m[1]!);
  return specs.map((s) => relative(REPO, resolve(dirname(file), s)));
}

function crossings(from: string[], into: string[]): string[] {
  return from.flatMap(sourcesUnder).flatMap((file) =>
    importsOf(file)
      .filter((target) => into.some((folder) => target.startsWith(folder + "/")))
      .map((target) => `${relative(REPO, file)} → ${target}`),
  );
}

test("control-plane sources import nothing of the worker, not even types", () => {
  assert.deepEqual(crossings(["src/platform"], ["src/worker"]), []);
});

test("worker sources import nothing of the control plane", () => {
  assert.deepEqual(crossings(["src/worker"], ["src/platform"]), []);
});

test("the folders both sides share import neither side", () => {
  assert.deepEqual(crossings(["src/contract", "src/serving-proxy", "src/queue"], ["src/platform", "src/worker"]), []);
});

test("the check sees imports (it is not vacuous)", () => {
  assert.ok(crossings(["src/platform"], ["src/platform"]).length > 50);
  assert.ok(importsOf(join(REPO, "src/serving-proxy/proxy.ts")).includes("src/contract/wire-error.ts"));
});
