import assert from "node:assert/strict";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";
import { MANIFEST_FORMAT_VERSION, ManifestError, findProjectRoot, validateManifest } from "../../src/bundle/index.ts";
import { baseManifest, tempDir, writeTree } from "./_helpers.ts";

const valid = { ...baseManifest, formatVersion: 1, contentHash: "a".repeat(64), lockfileHash: null };

describe("validateManifest", () => {
  it("accepts a valid manifest and drops unknown fields", () => {
    assert.equal(MANIFEST_FORMAT_VERSION, 1);
    assert.deepEqual(validateManifest({ ...valid, extra: 1 }), valid);
    assert.deepEqual(validateManifest({ ...valid, lockfileHash: "b".repeat(64), schedule: { cron: "0 * * * *" } }).schedule, {
      cron: "0 * * * *",
    });
  });

  const cases: [string, Record<string, unknown>][] = [
    ["formatVersion", { formatVersion: 2 }],
    ["entry", { entry: "../ops.ts" }],
    ["entry", { entry: "/abs/ops.ts" }],
    ["entry", { entry: 3 }],
    ["export", { export: "" }],
    ["kind", { kind: "lambda" }],
    ["init", { init: {} }],
    ["type", { type: "cron" }],
    ["name", { name: undefined }],
    ["resource", { resource: [] }],
    ["schedule", { schedule: "daily" }],
    ["contentHash", { contentHash: "xyz" }],
    ["lockfileHash", { lockfileHash: 5 }],
  ];
  for (const [field, patch] of cases) {
    it(`names the bad field: ${field} = ${JSON.stringify(Object.values(patch)[0])}`, () => {
      assert.throws(
        () => validateManifest({ ...valid, ...patch }),
        (e: unknown) => e instanceof ManifestError && e.message.includes(`"${field}"`),
      );
    });
  }
  it("rejects non-objects", () => {
    assert.throws(() => validateManifest([]), ManifestError);
    assert.throws(() => validateManifest(null), ManifestError);
  });
});

describe("findProjectRoot", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
    await writeTree(dir, { "proj/package.json": "{}", "proj/src/deep/ops.ts": "", "proj/nested/package.json": "{}", "proj/nested/a.ts": "" });
  });
  after(() => cleanup());

  it("finds the nearest package.json at or above the file's folder", () => {
    const proj = path.join(dir, "proj");
    assert.equal(findProjectRoot(path.join(proj, "src/deep/ops.ts")), proj);
    assert.equal(findProjectRoot(pathToFileURL(path.join(proj, "src/deep/ops.ts")).href), proj);
    assert.equal(findProjectRoot(path.join(proj, "nested/a.ts")), path.join(proj, "nested"));
    assert.equal(findProjectRoot(path.join(proj, "package.json")), proj);
  });

  it("throws a clear error when there is none", async () => {
    // the temp folder itself has no package.json above it (os.tmpdir() normally doesn't)
    const lonely = await tempDir();
    try {
      await writeTree(lonely.dir, { "a.ts": "" });
      assert.throws(() => findProjectRoot(path.join(lonely.dir, "a.ts")), /no package\.json found/);
    } finally {
      await lonely.cleanup();
    }
  });
});
