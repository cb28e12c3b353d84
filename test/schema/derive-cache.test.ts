// Deploy-time type readings are kept on disk and reused only while nothing they depended on changed.
// A kept reading is recognised by a mark written into the cache entry: it shows only when the entry is used.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeriveCache } from "../../src/schema/derive-cache.ts";
import { deriveTypes, type DeriveInput } from "../../src/schema/from-ts.ts";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const temp = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};

const OPS = `import type { Shape } from "./shapes.ts";
export class Svc {
  area(s: Shape): number { return 0; }
}
`;
const SHAPES = `export interface Shape { w: number; h: number }\n`;

function project(files: Record<string, string> = { "ops.ts": OPS, "shapes.ts": SHAPES }): string {
  const dir = temp("nbx-derive-");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "p", type: "module" }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}
const input = (dir: string): DeriveInput => ({ file: join(dir, "ops.ts"), exportName: "Svc", kind: "class", methods: ["area"], forward: false });

/** Marks every kept entry: a reading that carries the mark came from the cache. */
function markEntries(cacheDir: string): number {
  const names = readdirSync(cacheDir).filter((n) => n.endsWith(".json"));
  for (const n of names) {
    const entry = JSON.parse(readFileSync(join(cacheDir, n), "utf8"));
    entry.result.schemas.notes = ["kept"];
    writeFileSync(join(cacheDir, n), JSON.stringify(entry));
  }
  return names.length;
}
const fromCache = (r: Awaited<ReturnType<typeof deriveTypes>>) => r.schemas.notes?.includes("kept") ?? false;
const shapeProps = (r: Awaited<ReturnType<typeof deriveTypes>>) => Object.keys((r.schemas.defs.Shape as { properties: object }).properties).sort();

describe("deploy-time type readings cache", () => {
  it("reuses a reading while its sources are unchanged, also for a copy of the project elsewhere", async () => {
    const cacheDir = temp("nbx-derive-cache-");
    const dir = project();
    const first = await deriveTypes(input(dir), { cacheDir });
    assert.deepEqual(shapeProps(first), ["h", "w"]);
    assert.equal(fromCache(first), false);
    assert.equal(markEntries(cacheDir), 1);
    assert.ok(fromCache(await deriveTypes(input(dir), { cacheDir })), "the same project: the kept reading");
    const copy = temp("nbx-derive-copy-");
    cpSync(dir, copy, { recursive: true });
    assert.ok(fromCache(await deriveTypes(input(copy), { cacheDir })), "a copy elsewhere: the kept reading");
  });

  it("reads afresh when an imported file, a project folder's files or the tsconfig change", async () => {
    const cacheDir = temp("nbx-derive-cache-");
    const dir = project();
    const fresh = async (why: string) => {
      markEntries(cacheDir);
      const r = await deriveTypes(input(dir), { cacheDir });
      assert.equal(fromCache(r), false, why);
      return r;
    };
    await deriveTypes(input(dir), { cacheDir });
    writeFileSync(join(dir, "shapes.ts"), `export interface Shape { w: number; h: number; depth: number }\n`);
    assert.deepEqual(shapeProps(await fresh("an imported file changed")), ["depth", "h", "w"]);
    // A new file beside the sources may change what an import resolves to.
    writeFileSync(join(dir, "notes.txt"), "x");
    await fresh("a file was added to a project folder");
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { strict: true } }));
    await fresh("a tsconfig appeared");
    writeFileSync(join(dir, "base.json"), JSON.stringify({ compilerOptions: { strict: true } }));
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ extends: "./base.json" }));
    await fresh("the tsconfig changed");
    writeFileSync(join(dir, "base.json"), JSON.stringify({ compilerOptions: { strict: false } }));
    await fresh("a tsconfig it extends changed");
    markEntries(cacheDir);
    assert.ok(fromCache(await deriveTypes(input(dir), { cacheDir })), "nothing changed since: kept");
  });

  it("keeps no reading with an unresolved import (installing the module would change it)", async () => {
    const cacheDir = temp("nbx-derive-cache-");
    const dir = project({ "ops.ts": `import type { Thing } from "not-installed-yet";\n${OPS}`, "shapes.ts": SHAPES });
    await deriveTypes(input(dir), { cacheDir });
    assert.deepEqual(readdirSync(cacheDir).filter((n) => n.endsWith(".json")), []);
  });

  it("a damaged entry is read afresh and replaced; an unusable cache folder only costs time", async () => {
    const cacheDir = temp("nbx-derive-cache-");
    const dir = project();
    await deriveTypes(input(dir), { cacheDir });
    const [name] = readdirSync(cacheDir);
    writeFileSync(join(cacheDir, name!), "{ half an entr");
    assert.deepEqual(shapeProps(await deriveTypes(input(dir), { cacheDir })), ["h", "w"]);
    assert.doesNotThrow(() => JSON.parse(readFileSync(join(cacheDir, name!), "utf8")), "rewritten whole");

    const notADir = join(temp("nbx-derive-file-"), "cache");
    writeFileSync(notADir, "a file where the folder should be");
    assert.deepEqual(shapeProps(await deriveTypes(input(dir), { cacheDir: notADir })), ["h", "w"]);
    if (process.getuid?.() !== 0) {
      const readOnly = temp("nbx-derive-ro-");
      chmodSync(readOnly, 0o500);
      assert.deepEqual(shapeProps(await deriveTypes(input(dir), { cacheDir: join(readOnly, "types") })), ["h", "w"]);
    }
  });

  it("after a power loss: an empty entry is read afresh, a writer's leftover is removed once old", async () => {
    const cacheDir = temp("nbx-derive-cache-");
    const dir = project();
    await deriveTypes(input(dir), { cacheDir });
    const [name] = readdirSync(cacheDir);
    writeFileSync(join(cacheDir, name!), ""); // renamed into place, its data never reached the disk
    const leftover = join(cacheDir, `${name}.dead.tmp`);
    writeFileSync(leftover, "{ half");
    const old = new Date(Date.now() - 120_000);
    utimesSync(leftover, old, old);
    assert.deepEqual(shapeProps(await deriveTypes(input(dir), { cacheDir })), ["h", "w"]);
    assert.ok(JSON.parse(readFileSync(join(cacheDir, name!), "utf8")).result, "rewritten whole");
    assert.deepEqual(readdirSync(cacheDir).filter((n) => n.endsWith(".tmp")), [], "the leftover is gone");
  });

  it("a file gone between reading and keeping: nothing kept, nothing thrown", () => {
    const cacheDir = temp("nbx-derive-cache-");
    const dir = project();
    const cache = new DeriveCache(cacheDir, "salt");
    const result = { schemas: { defs: {}, methods: {}, fields: {} }, optional: {} };
    assert.doesNotThrow(() => cache.write(input(dir), { files: [], configs: [join(dir, "gone", "tsconfig.json")] }, result));
    assert.equal(cache.read(input(dir)), undefined);
  });

  it("keeps the most recently used entries", () => {
    const cacheDir = temp("nbx-derive-cache-");
    const cache = new DeriveCache(cacheDir, "salt", 2);
    const result = { schemas: { defs: {}, methods: {}, fields: {} }, optional: {} };
    const inputs = ["a", "b", "c"].map((n) => {
      const dir = project({ "ops.ts": `export class Svc { ${n}() {} }\n` });
      return input(dir);
    });
    cache.write(inputs[0]!, { files: [], configs: [] }, result);
    cache.write(inputs[1]!, { files: [], configs: [] }, result);
    // The first is used again after the second was written: the second is the least recently used.
    const old = new Date(Date.now() - 60_000);
    for (const n of readdirSync(cacheDir)) utimesSync(join(cacheDir, n), old, old);
    assert.ok(cache.read(inputs[0]!));
    cache.write(inputs[2]!, { files: [], configs: [] }, result);
    assert.equal(readdirSync(cacheDir).filter((n) => n.endsWith(".json")).length, 2);
    assert.ok(cache.read(inputs[0]!), "used recently: kept");
    assert.equal(cache.read(inputs[1]!), undefined, "least recently used: removed");
    assert.ok(cache.read(inputs[2]!));
  });
});
