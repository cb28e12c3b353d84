// A worker start sweeps what a killed worker left in the cache (half-downloaded bundles, staging
// folders of a prepare, half-done dependency installs), and nothing else: finished versions and
// installs, the work of live processes sharing the cache, and anything changed in the last minute stay.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { LEFTOVER_MIN_AGE_MS, UNCHECKED_MIN_AGE_MS, sweepCache } from "../../src/worker/cache-sweep.ts";
import { workerPaths } from "../../src/worker/paths.ts";
import { HOST_TAG } from "../../src/lib/writer-tag.ts";

const HASH = "ab".repeat(32);
const OTHER = "cd".repeat(32);
const KEY = "ef".repeat(32);

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", ""]);
  return r.pid!;
}

describe("worker cache sweep", () => {
  const root = mkdtempSync(join(tmpdir(), "nbx-cache-sweep-"));
  after(() => rmSync(root, { recursive: true, force: true }));

  it("removes a dead worker's old downloads, staging and install folders, and keeps everything else", async () => {
    const paths = workerPaths(join(root, "cache"));
    mkdirSync(paths.bundles, { recursive: true });
    mkdirSync(paths.versions, { recursive: true });
    mkdirSync(paths.deps, { recursive: true });
    const dead = `${deadPid()}@${HOST_TAG}`;
    const live = `${process.pid}@${HOST_TAG}`;
    const deadBefore = deadPid(); // a name from before the host was part of it
    const elsewhere = `${process.pid}@${HOST_TAG === "ffffffff" ? "00000000" : "ffffffff"}`; // another machine sharing the folder
    const old = (Date.now() - 2 * LEFTOVER_MIN_AGE_MS) / 1000;
    const file = (p: string, age: "old" | "new" = "old") => {
      writeFileSync(p, "x");
      if (age === "old") utimesSync(p, old, old);
      return p;
    };
    const folder = (p: string, age: "old" | "new" = "old") => {
      mkdirSync(join(p, "sub"), { recursive: true });
      writeFileSync(join(p, "sub", "f.js"), "x");
      if (age === "old") utimesSync(p, old, old);
      return p;
    };

    const gone = [
      file(join(paths.bundles, `${HASH}.${dead}-0a1b2c3d4e5f.tgz`)),
      file(join(paths.bundles, `${OTHER}.${deadBefore}-0a1b2c3d4e5f.tgz`)),
      folder(join(paths.versions, `.${HASH}.prepare-${dead}-0a1b2c3d4e5f`)),
      folder(join(paths.versions, `..${HASH}.prepare-${dead}-0a1b2c3d4e5f.extract-Ab12Cd`)),
      folder(join(paths.deps, `${KEY}.tmp-${dead}-Ab12Cd`)),
    ];
    const kept = [
      file(join(paths.bundles, `${OTHER}.${dead}-0a1b2c3d4e5f.tgz`), "new"), // changed just now
      file(join(paths.bundles, `${HASH}.${live}-0a1b2c3d4e5f.tgz`)), // its writer is running
      file(join(paths.bundles, `${HASH}.tgz`)),
      folder(join(paths.versions, `.${OTHER}.prepare-${live}-0a1b2c3d4e5f`)),
      folder(join(paths.versions, `.${HASH}.prepare-${dead}-ffffffffffff`), "new"),
      folder(join(paths.versions, HASH)),
      file(join(paths.versions, HASH, ".ready")),
      folder(join(paths.deps, "k".repeat(64))),
      folder(join(paths.deps, KEY)), // a finished install
      folder(join(paths.deps, `${HASH}.tmp-${live}-Ab12Cd`)), // its installer is running
      folder(join(paths.deps, `${OTHER}.tmp-${dead}-Ab12Cd`), "new"),
      folder(join(paths.deps, `${OTHER}.tmp-Ab12Cd`)), // no pid, and younger than an install may run
      file(join(paths.bundles, `${HASH}.0a1b2c3d4e5f.tgz`)), // no writer: by age alone, and not that old
      folder(join(paths.versions, `.${OTHER}.prepare-0a1b2c3d4e5f`)),
      folder(join(paths.versions, `.${OTHER}.prepare-${elsewhere}-0a1b2c3d4e5f`)), // another machine's: its pid means nothing here
      folder(join(paths.deps, `${KEY}.tmp-${elsewhere}-Zz99Yy`)),
    ];

    const removed = await sweepCache(paths);
    assert.deepEqual([...removed].sort(), [...gone].sort());
    for (const p of gone) assert.equal(existsSync(p), false, `${p} is removed`);
    for (const p of kept) assert.equal(existsSync(p), true, `${p} is kept`);
  });

  it("a leftover whose writer cannot be asked (no pid, or another machine) is removed only once older than an install may run", async () => {
    const paths = workerPaths(join(root, "unnamed"));
    const stale = join(paths.deps, `${KEY}.tmp-Ab12Cd`);
    const recent = join(paths.deps, `${HASH}.tmp-Xy34Zw`);
    const staleElsewhere = join(paths.deps, `${OTHER}.tmp-${process.pid}@${HOST_TAG === "ffffffff" ? "00000000" : "ffffffff"}-Qq11Rr`);
    for (const [p, ageMs] of [
      [stale, UNCHECKED_MIN_AGE_MS + LEFTOVER_MIN_AGE_MS],
      [staleElsewhere, UNCHECKED_MIN_AGE_MS + LEFTOVER_MIN_AGE_MS],
      [recent, UNCHECKED_MIN_AGE_MS - LEFTOVER_MIN_AGE_MS],
    ] as const) {
      mkdirSync(join(p, "node_modules"), { recursive: true });
      const t = (Date.now() - ageMs) / 1000;
      utimesSync(p, t, t);
    }
    assert.deepEqual((await sweepCache(paths)).sort(), [stale, staleElsewhere].sort());
    assert.equal(existsSync(stale), false);
    assert.equal(existsSync(recent), true);
  });

  it("a cache without those folders is nothing to sweep", async () => {
    assert.deepEqual(await sweepCache(workerPaths(join(root, "empty"))), []);
  });
});
