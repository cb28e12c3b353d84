import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, readlink, realpath } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { DependencyInstallError, installDependencies, stripLockfile, stripPackageJson } from "../../src/bundle/index.ts";
import { tempDir, writeTree } from "./_helpers.ts";

const IS_NUMBER_LOCK = {
  name: "proj",
  version: "1.0.0",
  lockfileVersion: 3,
  requires: true,
  packages: {
    "": { name: "proj", version: "1.0.0", dependencies: { "is-number": "^7.0.0", nbox: "file:../.." } },
    "../..": { name: "nbox", version: "0.1.0", dependencies: { "is-odd": "3.0.1" } },
    "node_modules/is-number": {
      version: "7.0.0",
      integrity: "sha512-41Cifkg6e8TylSpdtTpeLVMqvSBEVzTttHvERD741+pnZ8ANv0004MRL43QKPDlK9cGvNp6NZWZUBlbGXYxxng==",
      license: "MIT",
      engines: { node: ">=0.12.0" },
    },
    "node_modules/nbox": { resolved: "../..", link: true },
  },
};
const IS_NUMBER_PKG = { name: "proj", version: "1.0.0", dependencies: { nbox: "file:../..", "is-number": "^7.0.0" } };

const NETWORK = /ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNREFUSED|ECONNRESET|ENOTCACHED|network/i;

describe("installDependencies", () => {
  let work: string;
  let cleanup: () => Promise<void>;
  let nboxDir: string;
  before(async () => {
    ({ dir: work, cleanup } = await tempDir());
    nboxDir = path.join(work, "platform-nbox");
    await writeTree(nboxDir, { "package.json": JSON.stringify({ name: "nbox", version: "0.0.0" }) });
  });
  after(() => cleanup());

  it("fast path: only nbox (and dev deps) => no npm, just the nbox symlink", async () => {
    const dir = path.join(work, "fast");
    await writeTree(dir, {
      "package.json": JSON.stringify({ dependencies: { nbox: "file:../.." }, devDependencies: { typescript: "^5" } }),
      "node_modules/stale/index.js": "left over",
    });
    const cacheDir = path.join(work, "cache-fast");
    const lines: string[] = [];
    const r = await installDependencies(dir, { cacheDir, nboxPackageDir: nboxDir, log: (l) => lines.push(l) });
    // No npm run and no cache folder: nothing slow happened (no timing threshold needed).
    assert.deepEqual(r, { key: null, ranNpm: false });
    assert.equal(await readlink(path.join(dir, "node_modules/nbox")), nboxDir);
    assert.deepEqual(await readdir(path.join(dir, "node_modules")), ["nbox"]);
    assert.equal(existsSync(cacheDir), false);
    assert.deepEqual(lines, []);
    // idempotent
    await installDependencies(dir, { cacheDir, nboxPackageDir: nboxDir });
    assert.equal(await realpath(path.join(dir, "node_modules/nbox")), await realpath(nboxDir));
  });

  it("strips nbox from package.json and every part of the lockfile, without touching other entries", () => {
    const pkg = stripPackageJson({ ...IS_NUMBER_PKG, scripts: { x: "y" }, devDependencies: { nbox: "*", a: "1" } });
    assert.deepEqual(pkg, { name: "proj", version: "1.0.0", dependencies: { "is-number": "^7.0.0" }, devDependencies: { a: "1" } });
    const lock = stripLockfile(structuredClone(IS_NUMBER_LOCK));
    const packages = lock.packages as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(packages), ["", "node_modules/is-number"]);
    assert.deepEqual(packages[""]!.dependencies, { "is-number": "^7.0.0" });
    const v1 = stripLockfile({ lockfileVersion: 1, dependencies: { nbox: { version: "file:../.." }, x: { version: "1.0.0" } } });
    assert.deepEqual(Object.keys(v1.dependencies as object), ["x"]);
    // input untouched
    assert.ok("node_modules/nbox" in IS_NUMBER_LOCK.packages);
  });

  it("reports npm's output tail when npm fails", async () => {
    const dir = path.join(work, "broken");
    // package.json and lock out of sync: npm ci refuses immediately, no network needed.
    await writeTree(dir, {
      "package.json": JSON.stringify({ name: "proj", version: "1.0.0", dependencies: { "is-number": "^6.0.0" } }),
      "package-lock.json": JSON.stringify(IS_NUMBER_LOCK),
    });
    const cacheDir = path.join(work, "cache-broken");
    await assert.rejects(installDependencies(dir, { cacheDir, nboxPackageDir: nboxDir }), (e: unknown) => {
      assert.ok(e instanceof DependencyInstallError);
      assert.match(e.message, /npm ci failed with exit code \d+:\n/);
      assert.match(e.message, /in sync|lock/i);
      return true;
    });
    assert.deepEqual(await readdir(cacheDir), []); // no half-built cache entry
  });

  it("installs a real dependency once per lockfile and links it (network)", async (t) => {
    const cacheDir = path.join(work, "cache-real");
    const dirs = [path.join(work, "real-a"), path.join(work, "real-b")];
    for (const d of dirs) {
      await writeTree(d, { "package.json": JSON.stringify(IS_NUMBER_PKG), "package-lock.json": JSON.stringify(IS_NUMBER_LOCK) });
    }
    let results;
    try {
      results = await Promise.all(dirs.map((d) => installDependencies(d, { cacheDir, nboxPackageDir: nboxDir, timeoutMs: 60_000 })));
    } catch (e) {
      if (e instanceof DependencyInstallError && NETWORK.test(e.output)) return t.skip("npm registry unreachable");
      throw e;
    }
    assert.equal(results.filter((r) => r.ranNpm).length, 1, "concurrent installs of one lockfile share one npm run");
    assert.equal(results[0]!.key, results[1]!.key);
    for (const d of dirs) {
      const req = createRequire(path.join(d, "ops.js"));
      assert.equal((req("is-number") as (x: unknown) => boolean)(5), true);
      assert.equal(await realpath(path.join(d, "node_modules/nbox")), await realpath(nboxDir));
    }
    assert.deepEqual((await readdir(cacheDir)).filter((f) => !f.startsWith("_")), [results[0]!.key]);
    const again = await installDependencies(dirs[0]!, { cacheDir, nboxPackageDir: nboxDir });
    assert.equal(again.ranNpm, false);

    // Without a lockfile: npm install, with a warning line.
    const noLock = path.join(work, "real-nolock");
    await writeTree(noLock, { "package.json": JSON.stringify(IS_NUMBER_PKG) });
    const lines: string[] = [];
    const r = await installDependencies(noLock, { cacheDir, nboxPackageDir: nboxDir, log: (l) => lines.push(l), timeoutMs: 60_000 });
    assert.equal(r.ranNpm, true);
    assert.notEqual(r.key, results[0]!.key);
    assert.ok(lines.some((l) => /warning: no package-lock\.json/.test(l)));
    assert.ok(lines.some((l) => l.startsWith("npm install")));
    assert.equal((createRequire(path.join(noLock, "x.js"))("is-number") as (x: unknown) => boolean)(1), true);
  });
});
