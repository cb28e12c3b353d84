// End to end: a platform restarted on the same data dir does not leave runs of the previous one
// `running` forever — they are requeued (retries left) or failed with a clear error.
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

  it("runs held by the stopped platform are requeued (retries left) or failed (none left)", async () => {
    const dataDir = await freshDataDir();
    // First platform: no executor, runs are claimed by a worker that then "dies" with the platform.
    const a = await start({ executor: false }, dataDir);
    const { mod } = await importProject("basic");
    const ws = wsName("recover");
    const retrying = await mod.square.deploy(ws, { client: a.client, resource: { maxRetries: 1 } });
    const once = await mod.picky.deploy(ws, { client: a.client, resource: { maxRetries: 0 } });
    const r1: Run<number> = await retrying.trigger(6);
    const r2: Run<number> = await once.trigger(4);
    const store = a.platform.ctx.store;
    const claimed = [await store.claimNextRun("dead-worker"), await store.claimNextRun("dead-worker")].map((r) => r?.id).sort();
    assert.deepEqual(claimed, [r1.id, r2.id].sort());
    assert.equal(await r1.status(), "running");
    await a.close();

    const b = await start({}, dataDir);
    assert.equal(b.token, a.token, "same data dir, same admin token");
    const again1 = new Run<number>(b.client, r1.id);
    const again2 = new Run<number>(b.client, r2.id);
    // Requeued and run to completion by the new platform's executor, as attempt 2.
    assert.equal(await again1.result(), 36);
    const info1 = await again1.info();
    assert.equal(info1.status, "succeeded");
    assert.equal(info1.attempt, 2);
    // No retries left: failed, and the error says why.
    await assert.rejects(again2.result(), (e: any) => {
      assert.ok(e instanceof RemoteError);
      assert.equal(e.remoteName, "StaleRunError");
      assert.match(e.message, /left running/);
      assert.match(e.message, new RegExp(r2.id));
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
    assert.equal((row?.error as { name?: string } | null)?.name, "PlatformStopped");

    const b = await start({}, dataDir);
    const again = new Run<number>(b.client, run.id);
    assert.equal(await again.result(), 3000, "the next start runs it to completion");
    const info = await again.info();
    assert.equal(info.attempt, 1, "a platform stop does not use up a retry");
    const system = (await again.logs()).filter((l) => l.stream === "system").map((l) => l.line);
    assert.ok(system.some((l) => /platform stopped/.test(l)), system.join("\n"));
  });
});
