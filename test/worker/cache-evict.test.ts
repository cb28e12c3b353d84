// The worker cache evicts what no worker used for a while (versions, then dependency sets no kept
// version links), and never what is in use: a version some worker stamped meanwhile is put back, a
// version a live process holds is stamped before every pass, and an evicted version is prepared again.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { installDependencies, packBundle, stripPackageJson } from "../../src/bundle/index.ts";
import { canonicalJson, sha256Hex } from "../../src/bundle/hash.ts";
import { HOST_TAG } from "../../src/lib/writer-tag.ts";
import { evictIdle, READY_FILE, removeUnlessTouched } from "../../src/worker/cache-evict.ts";
import { CacheKeeper } from "../../src/worker/cache-keeper.ts";
import { LEFTOVER_MIN_AGE_MS, sweepCache } from "../../src/worker/cache-sweep.ts";
import { versionDir, workerPaths, type WorkerPaths } from "../../src/worker/paths.ts";
import { Versions } from "../../src/worker/versions.ts";
import { baseManifest, tempDir, writeTree } from "../bundle/_helpers.ts";

const DAY = 86_400_000;
const KEEP = 7 * DAY;
const hash = (c: string) => c.repeat(64);

function age(path: string, ms: number): void {
  const t = (Date.now() - ms) / 1000;
  utimesSync(path, t, t);
}

/** A finished version folder whose node_modules links the dependency sets `deps`, last used `agoMs` ago. */
function version(dir: string, agoMs: number, deps: string[] = [], paths?: WorkerPaths): string {
  mkdirSync(join(dir, "node_modules"), { recursive: true });
  for (const key of deps) symlinkSync(join(paths!.deps, key, "node_modules", `pkg-${key.slice(0, 4)}`), join(dir, "node_modules", `pkg-${key.slice(0, 4)}`));
  writeFileSync(join(dir, READY_FILE), "x");
  age(join(dir, READY_FILE), agoMs);
  return dir;
}

function depSet(paths: WorkerPaths, key: string, agoMs: number): string {
  const dir = join(paths.deps, key);
  mkdirSync(join(dir, "node_modules", `pkg-${key.slice(0, 4)}`), { recursive: true });
  age(dir, agoMs);
  return dir;
}

describe("worker cache eviction", () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups) await c();
  });
  const root = async () => {
    const { dir, cleanup } = await tempDir("nbox-evict-");
    cleanups.push(cleanup);
    return dir;
  };

  it("removes versions and dependency sets unused for longer than the keep time, of every install and the old layout", async () => {
    const paths = workerPaths(join(await root(), "cache"));
    const other = join(paths.versions, "..", "0123456789ab"); // another nbox install sharing the cache
    const [depOld, depLinked, depFresh, depOfGone] = [hash("1"), hash("2"), hash("3"), hash("4")];
    depSet(paths, depOld, 8 * DAY);
    depSet(paths, depLinked, 8 * DAY);
    depSet(paths, depFresh, 1 * DAY);
    depSet(paths, depOfGone, 8 * DAY);
    const idle = version(join(paths.versions, hash("a")), 8 * DAY, [depOfGone], paths);
    const used = version(join(paths.versions, hash("b")), 2 * DAY, [depLinked], paths);
    const idleOther = version(join(other, hash("c")), 8 * DAY);
    const usedOther = version(join(other, hash("d")), 1 * DAY);
    const legacy = version(join(paths.versions, "..", hash("e")), 30 * DAY); // versions/<hash>, before installs had folders

    const e = await evictIdle(paths, { keepMs: KEEP });
    assert.deepEqual(e.versions.sort(), [idle, idleOther, legacy].sort());
    assert.deepEqual(e.deps.sort(), [join(paths.deps, depOld), join(paths.deps, depOfGone)].sort());
    for (const kept of [used, usedOther, join(paths.deps, depLinked), join(paths.deps, depFresh)]) assert.ok(existsSync(kept), `${kept} stays`);
    for (const gone of [idle, idleOther, legacy, join(paths.deps, depOld), join(paths.deps, depOfGone)]) assert.ok(!existsSync(gone), `${gone} is removed`);
    assert.deepEqual(readdirSync(paths.versions).filter((n) => n.startsWith(".")), [], "nothing is left aside");
    assert.deepEqual(await evictIdle(paths, { keepMs: KEEP }), { versions: [], deps: [] }, "a second pass finds nothing more");
  });

  it("a dependency set linked by a version being prepared right now stays", async () => {
    const paths = workerPaths(join(await root(), "cache"));
    const key = hash("5");
    depSet(paths, key, 30 * DAY);
    version(join(paths.versions, `.${hash("f")}.prepare-${process.pid}@${HOST_TAG}-abc`), 0, [key], paths);
    assert.deepEqual((await evictIdle(paths, { keepMs: KEEP })).deps, []);
    assert.ok(existsSync(join(paths.deps, key)));
  });

  it("a folder stamped after it was judged idle is put back, not removed", async () => {
    const paths = workerPaths(join(await root(), "cache"));
    const dir = version(join(paths.versions, hash("a")), 8 * DAY);
    const seen = statSync(join(dir, READY_FILE)).mtimeMs;
    age(join(dir, READY_FILE), 0); // another worker hands it out between the look and the removal
    assert.equal(await removeUnlessTouched(dir, READY_FILE, seen), false);
    assert.ok(existsSync(join(dir, READY_FILE)), "back under its name");
    assert.deepEqual(readdirSync(paths.versions), [hash("a")]);
    assert.equal(await removeUnlessTouched(dir, READY_FILE, statSync(join(dir, READY_FILE)).mtimeMs), true, "untouched: removed");
    assert.ok(!existsSync(dir));
  });

  it("the keeper stamps the versions live processes hold before it evicts, so a long-running serving keeps its version", async () => {
    const { dir, cleanup } = await tempDir("nbox-keeper-");
    cleanups.push(cleanup);
    const paths = workerPaths(join(dir, "cache"));
    const held = version(join(paths.versions, hash("a")), 30 * DAY);
    const idle = version(join(paths.versions, hash("b")), 30 * DAY);
    const versions = new Versions(paths, { manifest: async () => assert.fail("not asked"), download: async () => assert.fail("not asked") });
    const lines: string[] = [];
    const keeper = new CacheKeeper(paths, versions, () => [held], { keepMs: KEEP, log: (l) => lines.push(l) });
    await keeper.evict();
    assert.ok(existsSync(held), "the held version stays");
    assert.ok(!existsSync(idle), "the idle one goes");
    assert.ok(Date.now() - statSync(join(held, READY_FILE)).mtimeMs < 60_000, "the held version's stamp is fresh");
    assert.match(lines.join("\n"), /removed 1 version\(s\) and 0 dependency set\(s\) unused for 168 h/);
    await keeper.stop();
  });

  it("a version evicted from under a worker is prepared again; handing one out stamps it", async () => {
    const base = await root();
    const project = join(base, "project");
    await writeTree(project, { "ops.ts": "export const foo = (x: number) => x;\n", "package.json": JSON.stringify({ name: "p", type: "module" }) });
    const packed = await packBundle(project, baseManifest);
    const paths = workerPaths(join(base, "cache"));
    let downloads = 0;
    const source = { manifest: async () => packed.manifest, download: async (_h: string, file: string) => (downloads++, writeFileSync(file, packed.tarball)) };
    const dir = versionDir(paths, packed.manifest.contentHash);
    age(join(await new Versions(paths, source).prepare(packed.manifest), READY_FILE), 8 * DAY);
    // Another worker (its own Versions) hands the version out: the stamp is fresh again, and no eviction takes it.
    await new Versions(paths, source).prepare(packed.manifest);
    assert.ok(Date.now() - statSync(join(dir, READY_FILE)).mtimeMs < 60_000);
    assert.deepEqual((await evictIdle(paths, { keepMs: KEEP })).versions, []);
    // Unused for longer than the keep time: evicted, then made again by the next prepare.
    const worker = new Versions(paths, source);
    age(join(dir, READY_FILE), 8 * DAY);
    assert.deepEqual((await evictIdle(paths, { keepMs: KEEP })).versions, [dir]);
    assert.equal(await worker.prepare(packed.manifest), dir);
    assert.ok(existsSync(join(dir, "ops.ts")) && existsSync(join(dir, READY_FILE)), "extracted again");
    assert.equal(downloads, 2);
  });

  it("a start sweeps what a killed eviction or an older release's prepare left aside", async () => {
    const paths = workerPaths(join(await root(), "cache"));
    const dead = `${spawnSync(process.execPath, ["-e", ""]).pid}@${HOST_TAG}`;
    const leftovers = [
      join(paths.versions, `.${hash("a")}.evict-${dead}-0a0b0c0d`),
      join(paths.versions, "..", `.${hash("b")}.prepare-${dead}-0a0b0c`), // the old layout staged next to versions/<hash>
      join(paths.deps, `.${hash("c")}.evict-${dead}-0a0b0c0d`),
    ];
    for (const d of leftovers) {
      mkdirSync(d, { recursive: true });
      age(d, 2 * LEFTOVER_MIN_AGE_MS);
    }
    const live = join(paths.versions, `.${hash("d")}.evict-${process.pid}@${HOST_TAG}-0a0b0c0d`);
    mkdirSync(live, { recursive: true });
    age(live, 2 * LEFTOVER_MIN_AGE_MS);
    const removed = await sweepCache(paths);
    assert.deepEqual(removed.sort(), leftovers.sort());
    assert.ok(existsSync(live), "a live worker's eviction in progress stays");
  });
});

describe("dependency sets", () => {
  it("a cache hit stamps the set as used", async () => {
    const { dir, cleanup } = await tempDir("nbox-evict-deps-");
    try {
      const project = join(dir, "project");
      const pkg = { name: "p", dependencies: { "left-pad": "1.3.0" } };
      await writeTree(project, { "package.json": JSON.stringify(pkg) });
      const paths = workerPaths(join(dir, "cache"));
      const key = sha256Hex(canonicalJson({ v: 1, dev: false, pkg: stripPackageJson(pkg), lock: null }));
      depSet(paths, key, 8 * DAY);
      const r = await installDependencies(project, { cacheDir: paths.deps, nboxPackageDir: paths.nboxPackage });
      assert.deepEqual(r, { key, ranNpm: false }, "served from the cache");
      assert.ok(Date.now() - statSync(join(paths.deps, key)).mtimeMs < 60_000, "stamped");
      assert.deepEqual((await evictIdle(paths, { keepMs: KEEP })).deps, []);
    } finally {
      await cleanup();
    }
  });
});
