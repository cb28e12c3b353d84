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
import { COMPILE_RECORD } from "../../../src/worker/compile/compile-version.ts";
import { workerPaths } from "../../../src/worker/paths.ts";
import { Versions } from "../../../src/worker/versions.ts";
import { baseManifest, tempDir, writeTree } from "../../bundle/_helpers.ts";

// The shipped runtime: from the sources, the runtime needs the loader for its own TypeScript.
const { RuntimeProcess } = (await import("../../../dist/worker/runtime/runtime-process.js")) as unknown as typeof import("../../../src/worker/runtime/runtime-process.ts");

/** The same operators in both module systems; `where` names the module file that was loaded. */
const opsFor = (where: string) =>
  [
    'import { operator } from "nbox";',
    'import Module from "node:module";',
    'import { twice } from "./lib/twice";',
    `export const where = operator(async (): Promise<string> => ${where});`,
    "// The loader's ESM hooks, and its require hooks for .ts files.",
    'export const loaders = operator(async (): Promise<string[]> => [...process.moduleLoadList.filter((m) => m.includes("esm/hooks")), ...Object.keys((Module as unknown as { _extensions: object })._extensions).filter((e) => e.includes("ts"))]);',
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

// The file V8 runs (import.meta.url and __filename name the source, as under the loader; source maps do too).
const RAW_FILE = '(() => { const o = Error.prepareStackTrace; Error.prepareStackTrace = (_e: unknown, cs: Array<{ getFileName(): string }>) => cs[0]!.getFileName(); const f = String(new Error().stack); Error.prepareStackTrace = o; return f; })()';

const CASES = [
  { system: "an ES module package", type: "module", where: RAW_FILE, compiled: /\/ops\.nbox\.mjs$/, loaderHooks: 1 },
  // A CommonJS project also gets the loader's require hooks (for .ts and the like).
  { system: "a CommonJS package", type: "commonjs", where: RAW_FILE, compiled: /\/ops\.nbox\.cjs$/, loaderHooks: 2 },
];

for (const c of CASES) {
  describe(`a version compiled ahead, in the shipped runtime: ${c.system}`, () => {
    let dir: string;
    let cleanup: () => Promise<void>;
    before(async () => {
      const t = await tempDir("nbox-compiled-entry-");
      cleanup = t.cleanup;
      dir = await preparedVersion(t.dir, { "ops.ts": opsFor(c.where), "lib/twice.ts": "export const twice = (x: number): number => 2 * x;\n", "package.json": JSON.stringify({ name: "p", type: c.type }) });
    });
    after(() => cleanup());

    test("its processes load the compiled modules without a loader; errors name the .ts line, relative to the bundle", async () => {
      assert.match(String(await call(dir, "where")), c.compiled);
      assert.deepEqual(await call(dir, "loaders"), [], "none of the loader's hooks in the process");
      assert.equal(await call(dir, "calc", 21), 42);
      const err = (await call(dir, "fail")) as Error;
      assert.ok(err instanceof RangeError);
      assert.match(err.stack ?? "", /\bops\.ts:9:\d+/);
      assert.doesNotMatch(err.stack ?? "", new RegExp(`${dir}|nbox\\.[cm]js`));
    });

    test("without its compile record (prepared by an older nbox) the version loads through the loader", async () => {
      renameSync(join(dir, COMPILE_RECORD), join(dir, "record.kept"));
      try {
        assert.match(String(await call(dir, "where")), /\/ops\.ts$/);
        const loaders = (await call(dir, "loaders")) as string[];
        assert.ok(loaders.length >= c.loaderHooks, `the loader's hooks are in: ${loaders.join(", ")}`);
        assert.equal(await call(dir, "calc", 21), 42);
      } finally {
        renameSync(join(dir, "record.kept"), join(dir, COMPILE_RECORD));
      }
    });
  });
}

describe("a version its compile left on the loader", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    const t = await tempDir("nbox-compiled-kept-");
    cleanup = t.cleanup;
    const ops = ['import { operator } from "nbox";', 'import data from "./data.json" with { type: "json" };', "export const size = operator(async (): Promise<number> => data.items.length);", ""].join("\n");
    dir = await preparedVersion(t.dir, { "ops.ts": ops, "data.json": JSON.stringify({ items: [1, 2, 3] }), "package.json": JSON.stringify({ name: "p", type: "module" }) });
  });
  after(() => cleanup());

  test("runs through the loader, and its cold start says why in the run's log", async () => {
    const { ProcessPool, executeCall } = (await import("../../../dist/worker/jobs/index.js")) as unknown as typeof import("../../../src/worker/jobs/index.ts");
    const pool = new ProcessPool({ slots: 1 });
    const lines: string[] = [];
    try {
      const r = await executeCall(pool, { key: dir, bundleDir: dir, locator: { file: join(dir, "ops.ts"), exportName: "size", kind: "fn", init: [] }, runId: "kept-1", args: [], onLog: (stream, line) => void lines.push(`${stream}: ${line}`) });
      assert.equal(r.ok && fromWire(r.value), 3);
      assert.ok(lines.some((l) => /^system: its TypeScript loads through the loader \(a slower cold start\): data\.json is not a module/.test(l)), lines.join("\n"));
    } finally {
      await pool.close();
    }
  });
});
