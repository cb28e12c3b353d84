// End to end: how runs fail — retries with backoff, timeouts, cancel (running and queued), crashes.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { RemoteError, type Run } from "../../../src/index.ts";
import { eventually, flakyKey, importProject, startTestPlatform, totalSlots, wsName, type TestPlatform } from "./_helpers.ts";

describe("jobs e2e: failures", () => {
  let tp: TestPlatform;
  let mod: any;
  before(async () => {
    // Two slots: enough to run a crash next to another run, and to fill them to keep a run queued.
    tp = await startTestPlatform({ slots: 2 });
    ({ mod } = await importProject("basic"));
  });
  after(async () => {
    await tp?.close();
  });

  const key = () => flakyKey("retry");

  it("retries: fails on attempts 1-2, succeeds on 3 with maxRetries 2", async () => {
    const remote = await mod.flaky.deploy(wsName("retry"), { client: tp.client, resource: { maxRetries: 2, retryBackoffMs: 10 } });
    const run: Run<number> = await remote.trigger(key(), 3);
    assert.equal(await run.result(), 3);
    const info = await run.info();
    assert.equal(info.status, "succeeded");
    assert.equal(info.attempt, 3);
    assert.equal(info.maxRetries, 2);
    const system = (await run.logs()).filter((l) => l.stream === "system").map((l) => l.line);
    assert.equal(system.filter((l) => /retrying in/.test(l)).length, 2, system.join("\n"));
    // The plain call path retries too.
    assert.equal(await remote(key(), 2), 2);
  });

  it("retries: maxRetries 0 fails at once with a RemoteError carrying the original error and the run id", async () => {
    const remote = await mod.flaky.deploy(wsName("noretry"), { client: tp.client, name: "flaky0", resource: { maxRetries: 0, retryBackoffMs: 10 } });
    const k = key();
    const run: Run<number> = await remote.trigger(k, 3);
    await assert.rejects(run.result(), (e: any) => {
      assert.ok(e instanceof RemoteError, String(e));
      assert.equal(e.remoteName, "FlakyError");
      assert.match(e.message, new RegExp(`attempt 1 of ${k} failed`));
      assert.equal(e.runId, run.id);
      assert.match(e.remoteStack ?? "", /flaky/);
      return true;
    });
    const info = await run.info();
    assert.equal(info.status, "failed");
    assert.equal(info.attempt, 1);
    assert.equal(info.error?.name, "FlakyError");
    // Same through a direct call.
    await assert.rejects(remote(key(), 2), (e: any) => e instanceof RemoteError && e.remoteName === "FlakyError" && typeof e.runId === "string");
  });

  it("timeouts: a spinning run ends timed_out naming the timeout; the next run works", async () => {
    const remote = await mod.spin.deploy(wsName("timeout"), { client: tp.client, resource: { timeoutMs: 300, maxRetries: 0 } });
    assert.equal(await remote(false), "done"); // warm up: the limit is on the call, not the cold start
    const run: Run<string> = await remote.trigger(true);
    await assert.rejects(run.result(), (e: any) => {
      assert.ok(e instanceof RemoteError);
      assert.match(`${e.remoteName} ${e.message}`, /time(d)?[ _-]?out/i);
      assert.match(e.message, /300/);
      return true;
    });
    const info = await run.info();
    assert.equal(info.status, "timed_out");
    assert.match(`${info.error?.name}: ${info.error?.message}`, /time(d)?[ _-]?out/i);
    assert.equal(await remote(false), "done");
  });

  it("cancel: a long running run is cancelled quickly", async () => {
    const remote = await mod.sleeper.deploy(wsName("cancel"), { client: tp.client });
    const run: Run<number> = await remote.trigger(120_000);
    await eventually(async () => (await run.status()) === "running", 30_000, "run to start");
    await run.cancel();
    await assert.rejects(run.result(), (e: any) => e instanceof RemoteError && e.runId === run.id);
    assert.equal(await run.status(), "cancelled");
    // Cancelling again is harmless and keeps the status.
    assert.equal(await run.cancel(), "cancelled");
    // The deployment still works afterwards.
    assert.equal(await remote(1), 1);
  });

  it("cancel: a queued run is cancelled before it starts", async () => {
    const remote = await mod.sleeper.deploy(wsName("cancelq"), { client: tp.client });
    // Fill every slot (of every worker), then queue one more.
    const busy: Run<number>[] = [];
    for (let i = 0; i < totalSlots(2); i++) busy.push(await remote.trigger(120_000));
    await eventually(async () => (await Promise.all(busy.map((r) => r.status()))).every((s) => s === "running"), 30_000, "slots to fill");
    // Started (two cold starts: slow on a busy machine), and running longer than a short call: no
    // worker holds a run behind them any more.
    const whereTheyAre = async () => {
      const seen = await Promise.all(busy.map(async (r) => ({ info: await r.info(), system: (await r.logs()).filter((l) => l.stream === "system").map((l) => l.line) })));
      return JSON.stringify(seen.map(({ info, system }) => ({ id: info.id, status: info.status, attempt: info.attempt, startedAt: info.startedAt, system })));
    };
    await eventually(async () => (await Promise.all(busy.map((r) => r.info()))).every((i) => i.startedAt !== null), 120_000, "the runs filling the slots to start", whereTheyAre);
    await new Promise((r) => setTimeout(r, 150));
    const queued: Run<number> = await remote.trigger(5);
    assert.equal(await queued.status(), "queued");
    assert.equal(await queued.cancel(), "cancelled");
    const info = await queued.info();
    assert.equal(info.status, "cancelled");
    assert.equal(info.startedAt, null, "it never started");
    await assert.rejects(queued.result(), (e: any) => e instanceof RemoteError && e.runId === queued.id);
    for (const r of busy) await r.cancel();
    for (const r of busy) await assert.rejects(r.result());
    assert.deepEqual(await Promise.all(busy.map((r) => r.status())), busy.map(() => "cancelled"));
  });

  it("crash: process.exit(3) fails only that run; the next run succeeds", async () => {
    const crash = await mod.crash.deploy(wsName("crash"), { client: tp.client, resource: { maxRetries: 0 } });
    const other = await mod.sleeper.deploy(wsName("crash-other"), { client: tp.client });
    assert.equal(await crash(), "alive");
    const bystander: Run<number> = await other.trigger(1500);
    await eventually(async () => (await bystander.status()) === "running", 30_000, "bystander to start");
    const run: Run<string> = await crash.trigger(3);
    await assert.rejects(run.result(), (e: any) => {
      assert.ok(e instanceof RemoteError);
      assert.equal(e.runId, run.id);
      assert.match(e.message, /\b3\b/, "the exit code is in the error");
      return true;
    });
    assert.equal(await run.status(), "failed");
    assert.equal(await bystander.result(), 1500, "a run in another process is unaffected");
    assert.equal(await crash(), "alive");
  });

  it("a version evicted from the worker cache while no process held it is prepared again for the next run", async () => {
    const ws = wsName("evicted");
    const crash = await mod.crash.deploy(ws, { client: tp.client, name: "crash-evicted", resource: { maxRetries: 0 } });
    assert.equal(await crash(), "alive");
    const { deployment } = await tp.client.call("GET /workspaces/{ws}/deployments/{name}", { params: { ws, name: "crash-evicted" } });
    // Its only process exits, then the version folder goes (another worker sharing the cache evicted it).
    await assert.rejects(crash(3), (e: any) => e instanceof RemoteError);
    // In every worker's cache (on the scale path the run may have gone to another worker).
    const folders = tp.caches.flatMap((cache) => {
      const versions = join(cache, "versions");
      return (existsSync(versions) ? readdirSync(versions) : []).map((install) => join(versions, install, deployment.contentHash)).filter((d) => existsSync(d));
    });
    assert.ok(folders.length > 0, "the version was extracted into the cache");
    for (const d of folders) rmSync(d, { recursive: true, force: true });
    assert.equal(await crash(), "alive");
    // (With more workers, the run may have gone to one whose process still holds the version.)
    if (tp.caches.length === 1) assert.ok(folders.some((d) => existsSync(join(d, ".ready"))), "extracted again");
  });
});
