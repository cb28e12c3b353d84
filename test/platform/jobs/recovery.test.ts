// End to end: a platform restarted on the same data dir does not leave runs of the previous one
// `running` forever — runs that never started are requeued as they were; started ones count the
// attempt (requeued if retries are left, else failed with a clear error).
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { RemoteError, Run } from "../../../src/index.ts";
import { openStore } from "../../../src/platform/store/index.ts";
import { eventually, freshDataDir, importProject, startTestPlatform, wsName, type TestPlatform, STORE_UNDER_TEST } from "./_helpers.ts";

// Startup recovery belongs to the embedded store (one platform owns it); on Postgres other nodes may hold runs.
describe("jobs e2e: recovery on restart", { skip: STORE_UNDER_TEST === "postgres" ? "embedded-store behaviour" : false }, () => {
  const open: TestPlatform[] = [];
  after(async () => {
    for (const tp of open) await tp.close();
  });
  const start = async (...a: Parameters<typeof startTestPlatform>) => {
    const tp = await startTestPlatform(...a);
    open.push(tp);
    return tp;
  };

  it("runs held by the stopped platform: never started → requeued, same attempt; started → retried (retries left) or failed", async () => {
    const dataDir = await freshDataDir();
    // First platform: no executor, runs are claimed by a worker that then "dies" with the platform.
    const a = await start({ executor: false }, dataDir);
    const { mod } = await importProject("basic");
    const ws = wsName("recover");
    const retrying = await mod.square.deploy(ws, { client: a.client, resource: { maxRetries: 1, retryBackoffMs: 50 } });
    const once = await mod.picky.deploy(ws, { client: a.client, resource: { maxRetries: 0 } });
    const r1: Run<number> = await retrying.trigger(6);
    const r2: Run<number> = await once.trigger(4);
    const ahead: Run<number> = await once.trigger(5);
    const store = a.platform.ctx.store;
    const claimed = (await store.claimNextRuns("dead-worker", 3)).map((r) => r.id).sort();
    assert.deepEqual(claimed, [r1.id, r2.id, ahead.id].sort());
    // r1 and r2 had been handed to a process; `ahead` was only claimed ahead.
    await store.markRunsStarted("dead-worker", [r1, r2].map((r) => ({ id: r.id, startedAt: Date.now() })));
    assert.equal(await r1.status(), "running");
    await a.close();

    const b = await start({}, dataDir);
    assert.equal(b.token, a.token, "same data dir, same admin token");
    const again1 = new Run<number>(b.client, r1.id);
    const again2 = new Run<number>(b.client, r2.id);
    const againAhead = new Run<number>(b.client, ahead.id);
    // Claimed ahead, never started: no attempt spent, although it had no retries.
    assert.equal(await againAhead.result(), 10);
    assert.equal((await againAhead.info()).attempt, 1);
    // Started, a retry left: requeued and run to completion by the new platform's executor, as attempt 2.
    assert.equal(await again1.result(), 36);
    const info1 = await again1.info();
    assert.equal(info1.status, "succeeded");
    assert.equal(info1.attempt, 2);
    // Started, no retries left: failed, and the error says why.
    await assert.rejects(again2.result(), (e: any) => {
      assert.ok(e instanceof RemoteError);
      assert.equal(e.remoteName, "WorkerCrashError");
      assert.match(e.message, new RegExp(`run ${r2.id} \\(attempt 1 of 1\\) was running on worker dead-worker when the platform stopped; no retries left`));
      return true;
    });
    assert.equal(await again2.status(), "failed");
  });

  it("a run executing when its platform stops is requeued (same attempt) and finished by the next start", async () => {
    const dataDir = await freshDataDir();
    const a = await start({}, dataDir);
    const { mod } = await importProject("basic");
    const remote = await mod.sleeper.deploy(wsName("stop"), { client: a.client, resource: { maxRetries: 0 } });
    const run: Run<number> = await remote.trigger(3000);
    await eventually(async () => (await run.status()) === "running", 30_000, "run to start");
    await a.close();
    // Between the two platforms: the run is back in the queue, not `running`.
    const between = await openStore({ dataDir });
    const row = await between.getRun(run.id);
    await between.close();
    assert.equal(row?.status, "queued");
    assert.equal(row?.attempt, 1);
    // The platform stopped its local worker, which put the run back before leaving.
    assert.equal((row?.error as { name?: string } | null)?.name, "WorkerStopped");

    const b = await start({}, dataDir);
    const again = new Run<number>(b.client, run.id);
    assert.equal(await again.result(), 3000, "the next start runs it to completion");
    const info = await again.info();
    assert.equal(info.attempt, 1, "a platform stop does not use up a retry");
    const system = (await again.logs()).filter((l) => l.stream === "system").map((l) => l.line);
    assert.ok(system.some((l) => /stopped while attempt 1/.test(l)), system.join("\n"));
  });
});
