// kill -9 of `nbx up` while it holds runs: runs it had only claimed ahead go back to the queue
// without spending an attempt, a run whose user code had started counts the attempt (retried if
// it has retries left, else failed with a WorkerCrashError). Recovered by the restart on the same
// data folder. (On Postgres: test/platform/jobs-on-postgres/crash-recovery.test.ts.)
import { after, describe, it } from "node:test";
import { startNbxUp } from "../cli/_harness.ts";
import { freshDataDir } from "../platform/jobs/_helpers.ts";
import { LEASE_MS, SLOTS, assertEarlierWorkerTokenRevoked, assertRecovered, crashWhileHolding, type Cleanup } from "./_crash-recovery.ts";

describe("crash recovery: embedded store", () => {
  const cleanup: Cleanup = [];
  after(async () => {
    for (const f of cleanup.reverse()) await f();
  });

  it("kill -9 then restart on the same data folder: claimed-ahead runs are not lost or failed", { timeout: 300_000 }, async () => {
    const data = await freshDataDir();
    const args = ["--data", data, "--slots", String(SLOTS), "--lease", String(LEASE_MS)];
    const a = await startNbxUp(args);
    cleanup.push(() => a.kill9());
    const held = await crashWhileHolding(a, cleanup);
    const b = await startNbxUp(args);
    cleanup.push(() => b.kill9());
    await assertRecovered(b, held, /when the platform stopped/);
    await assertEarlierWorkerTokenRevoked(b);
  });
});
