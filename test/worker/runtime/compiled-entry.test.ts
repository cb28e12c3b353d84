// A version the worker prepared is compiled ahead, and its processes (the shipped runtime, as `nbx
// worker` runs it) load the compiled modules with no TypeScript loader at all; errors still name the
// user's .ts lines. A version without the compile record (prepared by an older nbox) keeps the loader.
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

describe("a version compiled ahead, in the shipped runtime", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    const t = await tempDir("nbox-compiled-entry-");
    cleanup = t.cleanup;
    const project = join(t.dir, "project");
    await writeTree(project, { "ops.ts": OPS, "lib/twice.ts": "export const twice = (x: number): number => 2 * x;\n", "package.json": JSON.stringify({ name: "p", type: "module" }) });
    const packed = await packBundle(project, baseManifest);
    const source = { manifest: async () => packed.manifest, download: async (_hash: string, file: string) => writeFileSync(file, packed.tarball) };
    dir = await new Versions(workerPaths(join(t.dir, "cache")), source).prepare(packed.manifest);
  });
  after(() => cleanup());

  /** Call export `name` in a fresh job process of the version; its value, or its error. */
  async function call(name: string, ...args: unknown[]): Promise<unknown> {
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

  test("its processes load the compiled modules without a loader; errors name the .ts line, relative to the bundle", async () => {
    assert.match(String(await call("where")), /\/ops\.nbox\.mjs$/);
    assert.deepEqual(await call("hooks"), [], "no loader hooks in the process");
    assert.equal(await call("calc", 21), 42);
    const err = (await call("fail")) as Error;
    assert.ok(err instanceof RangeError);
    assert.match(err.stack ?? "", /\bops\.ts:7:\d+/);
    assert.doesNotMatch(err.stack ?? "", new RegExp(`${dir}|nbox\\.mjs`));
  });

  test("without its compile record (prepared by an older nbox) the version loads through the loader", async () => {
    renameSync(join(dir, COMPILE_RECORD), join(dir, "record.kept"));
    try {
      assert.match(String(await call("where")), /\/ops\.ts$/);
      assert.equal(((await call("hooks")) as string[]).length, 1, "the loader's hooks are in");
      assert.equal(await call("calc", 21), 42);
    } finally {
      renameSync(join(dir, "record.kept"), join(dir, COMPILE_RECORD));
    }
  });
});
