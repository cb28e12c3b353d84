// A version the worker prepared is compiled ahead, and its processes (the shipped runtime, as `nbx
// worker` runs it) load the compiled modules with no TypeScript loader at all; errors still name the
// user's .ts lines; ES and CommonJS projects alike. A version without the compile record (prepared by
// an older nbox) keeps the loader.
import assert from "node:assert/strict";
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fromWire, toWire } from "../../../src/codec/index.ts";
import { packBundle } from "../../../src/bundle/index.ts";
import { COMPILE_RECORD } from "../../../src/worker/compile-version.ts";
import { workerPaths } from "../../../src/worker/paths.ts";
import { Versions } from "../../../src/worker/versions.ts";
import { baseManifest, tempDir, writeTree } from "../../bundle/_helpers.ts";

// The shipped runtime: from the sources, the runtime needs the loader for its own TypeScript.
const { RuntimeProcess } = (await import("../../../dist/worker/runtime/runtime-process.js")) as unknown as typeof import("../../../src/worker/runtime/runtime-process.ts");

const OPS = [
  'import { operator } from "nbox";',
  'import { twice } from "./lib/twice.js";',
  "export const where = operator(async (): Promise<string> => import.meta.url);",
  'export const hooks = operator(async (): Promise<string[]> => process.moduleLoadList.filter((m) => m.includes("esm/hooks")));',
  "export const calc = operator(async (x: number): Promise<number> => twice(x));",
  "export const fail = operator(async (): Promise<never> => {",
  '  throw new RangeError("too far");',
  "});",
  "",
].join("\n");

/** The ready folder of a version of `files`, as a worker prepares it. */
async function preparedVersion(root: string, files: Record<string, string>): Promise<string> {
  const project = join(root, "project");
  await writeTree(project, files);
  const packed = await packBundle(project, baseManifest);
  const source = { manifest: async () => packed.manifest, download: async (_hash: string, file: string) => writeFileSync(file, packed.tarball) };
  return new Versions(workerPaths(join(root, "cache")), source).prepare(packed.manifest);
}

/** Call export `name` of the version in `dir` in a fresh job process; its value, or its error. */
async function call(dir: string, name: string, ...args: unknown[]): Promise<unknown> {
  const rt = new RuntimeProcess({ mode: "job", bundleDir: dir, locator: { file: join(dir, "ops.ts"), exportName: name, kind: "fn", init: [] } });
  try {
    const loaded = await rt.loaded;
    assert.equal(loaded.ok, true, JSON.stringify(loaded));
    const r = await rt.call({ kind: "job", args: args.map((a) => toWire(a)) });
    return r.ok ? fromWire(r.value) : fromWire(r.error);
  } finally {
    await rt.kill("test");
  }
}

describe("a version compiled ahead, in the shipped runtime", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    const t = await tempDir("nbox-compiled-entry-");
    cleanup = t.cleanup;
    dir = await preparedVersion(t.dir, { "ops.ts": OPS, "lib/twice.ts": "export const twice = (x: number): number => 2 * x;\n", "package.json": JSON.stringify({ name: "p", type: "module" }) });
  });
  after(() => cleanup());

  test("its processes load the compiled modules without a loader; errors name the .ts line, relative to the bundle", async () => {
    assert.match(String(await call(dir, "where")), /\/ops\.nbox\.mjs$/);
    assert.deepEqual(await call(dir, "hooks"), [], "no loader hooks in the process");
    assert.equal(await call(dir, "calc", 21), 42);
    const err = (await call(dir, "fail")) as Error;
    assert.ok(err instanceof RangeError);
    assert.match(err.stack ?? "", /\bops\.ts:7:\d+/);
    assert.doesNotMatch(err.stack ?? "", new RegExp(`${dir}|nbox\\.mjs`));
  });

  test("without its compile record (prepared by an older nbox) the version loads through the loader", async () => {
    renameSync(join(dir, COMPILE_RECORD), join(dir, "record.kept"));
    try {
      assert.match(String(await call(dir, "where")), /\/ops\.ts$/);
      assert.equal(((await call(dir, "hooks")) as string[]).length, 1, "the loader's hooks are in");
      assert.equal(await call(dir, "calc", 21), 42);
    } finally {
      renameSync(join(dir, "record.kept"), join(dir, COMPILE_RECORD));
    }
  });
});

describe("a CommonJS version compiled ahead, in the shipped runtime", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    const t = await tempDir("nbox-compiled-cjs-");
    cleanup = t.cleanup;
    const ops = [
      'import { operator } from "nbox";',
      'import { twice } from "./lib/twice";',
      "export const where = operator(async (): Promise<string> => __filename);",
      'export const loaders = operator(async (): Promise<string[]> => [...process.moduleLoadList.filter((m) => m.includes("esm/hooks")), ...Object.keys(require.extensions).filter((e) => e.includes("ts"))]);',
      "export const calc = operator(async (x: number): Promise<number> => twice(x));",
      "",
    ].join("\n");
    dir = await preparedVersion(t.dir, { "ops.ts": ops, "lib/twice.ts": "export const twice = (x: number): number => 2 * x;\n", "package.json": JSON.stringify({ name: "p", type: "commonjs" }) });
  });
  after(() => cleanup());

  test("its processes load the compiled CommonJS modules with neither of the loader's hooks", async () => {
    assert.match(String(await call(dir, "where")), /\/ops\.nbox\.cjs$/);
    assert.deepEqual(await call(dir, "loaders"), [], "no ESM hooks, no require hooks for .ts");
    assert.equal(await call(dir, "calc", 4), 8);
  });

  test("without its compile record it loads through both of the loader's hooks", async () => {
    renameSync(join(dir, COMPILE_RECORD), join(dir, "record.kept"));
    try {
      assert.match(String(await call(dir, "where")), /\/ops\.ts$/);
      assert.ok(((await call(dir, "loaders")) as string[]).length >= 2, "ESM hooks and .ts require hooks");
      assert.equal(await call(dir, "calc", 4), 8);
    } finally {
      renameSync(join(dir, "record.kept"), join(dir, COMPILE_RECORD));
    }
  });
});
