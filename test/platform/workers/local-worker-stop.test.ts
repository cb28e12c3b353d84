// `nbx up`'s stop and its local worker: a worker that dies instead of leaving (killed while the
// platform stops it) must not stay listed as live with whatever it held until the next start.
import { after, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { startPlatform } from "../../../src/platform/platform.ts";
import { openStore } from "../../../src/platform/store/index.ts";
import { freshDataDir, testCacheDir } from "../jobs/_helpers.ts";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The pid of the `nbx worker --local` process this platform started (found by its command line). */
function localWorkerPid(url: string): number {
  const pids = execFileSync("pgrep", ["-f", `worker --platform ${url} --local`], { encoding: "utf8" }).trim().split("\n").map(Number);
  assert.equal(pids.length, 1, `one local worker of ${url}: ${pids}`);
  return pids[0]!;
}

it("a local worker killed while nbx up stops is marked gone by the stop itself", { timeout: 120_000 }, async () => {
  const dataDir = await freshDataDir();
  dirs.push(dataDir);
  const platform = await startPlatform({ port: 0, dataDir, cacheDir: testCacheDir(), slots: 1 });
  try {
    const live = await platform.ctx.store.listLiveWorkers();
    assert.equal(live.length, 1, "the local worker joined");
    process.kill(localWorkerPid(platform.url), "SIGKILL");
  } finally {
    await platform.close();
  }
  const store = await openStore({ dataDir });
  try {
    const workers = await store.listWorkers();
    assert.equal(workers.length, 1, JSON.stringify(workers));
    assert.notEqual(workers[0]!.goneAt, null, `the killed local worker is gone: ${JSON.stringify(workers)}`);
  } finally {
    await store.close();
  }
});
