// `nbx worker` as a separate process, started from a folder of its own with nothing but the
// control plane's URL, a worker token and a cache folder: it runs the jobs and hosts the servings
// of a control plane that runs no user code itself; two of them share a batch of runs.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { toWire } from "../../src/codec/index.ts";
import { triggerRuns } from "../../src/remote/trigger.ts";
import { createWorkerToken, eventually, importProject, processesMatching, REPO, startTestPlatform, startWorkerProcess, wsName, type TestPlatform, type WorkerProc } from "./_helpers.ts";

const TERMINAL = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

describe("a remote worker runs jobs and hosts servings for a control plane without an executor", () => {
  let tp: TestPlatform;
  let token: Awaited<ReturnType<typeof createWorkerToken>>;
  let worker: WorkerProc | undefined;
  const ws = wsName("remote");

  before(async () => {
    tp = await startTestPlatform({ executor: false });
    token = await createWorkerToken(tp.url, tp.token, "remote worker test");
    worker = await startWorkerProcess({ url: tp.url, token: token.secret });
  });
  after(async () => {
    await worker?.stop();
    await token?.revoke();
    await tp?.close();
  });

  it("the control plane starts no worker of its own: the remote one is the only live worker", async () => {
    const live = await tp.platform.ctx.store.listLiveWorkers();
    assert.deepEqual(live.map((w) => [w.id, w.local]), [[worker!.id, false]]);
  });

  it("a deployed job runs on the remote worker", async () => {
    const { mod } = await importProject("basic");
    const square = await mod.square.deploy(ws, { client: tp.client });
    assert.equal(await square(7), 49);
    const run = await square.trigger(12);
    assert.equal(await run.result(), 144);
    const row = await tp.platform.ctx.store.getRun(run.id);
    assert.equal(row?.workerId, worker!.id, "the run was held by the remote worker");
    // Its output came back through the worker API.
    const chatty = await mod.chatty.deploy(ws, { client: tp.client });
    const r = await chatty.trigger(2);
    assert.equal(await r.result(), 2);
    const logs = (await tp.api("GET", `/runs/${r.id}/logs`)).json.logs as Array<{ line: string; stream: string }>;
    // Each stream in its own order (stdout and stderr are two pipes: no order between them).
    assert.deepEqual(logs.filter((l) => l.stream === "stdout" && /^line \d$/.test(l.line)).map((l) => l.line), ["line 0", "line 1"]);
    assert.deepEqual(logs.filter((l) => l.stream === "stderr" && l.line === "to stderr").length, 1);
  });

  it("a deployed serving is hosted by the remote worker and answers through the control plane", async () => {
    const { mod } = await importProject(join(REPO, "examples/bar"));
    const bar = await mod.Bar.deploy(ws, { client: tp.client });
    await bar.inc();
    await bar.inc();
    assert.equal(await bar.x, 3);
    assert.equal(await bar.getvalue(), 3);
    assert.ok(bar.$url.startsWith(`${tp.url}/s/`), `served under the control plane's URL: ${bar.$url}`);
    const serving = (await tp.platform.ctx.store.listServings()).find((s) => s.urlPath === `/s/${ws}/Bar/`);
    assert.equal(serving?.workerId, worker!.id, "placed on the remote worker");
    assert.equal(serving?.status, "ready");
  });

  it("the worker keeps nothing in the folder it was started from, and its processes go when it stops", async () => {
    assert.deepEqual(readdirSync(worker!.cwd), []);
    assert.ok(processesMatching(worker!.cache).length > 0, "user processes run from the worker's cache");
    await worker!.stop();
    const left = processesMatching(worker!.cache);
    assert.deepEqual(left, [], "no process of the stopped worker is left");
    worker = undefined;
    // It left cleanly: no live worker, the serving waits for one.
    assert.deepEqual(await tp.platform.ctx.store.listLiveWorkers(), []);
  });
});

describe("two remote workers with one slot each share a batch of runs", () => {
  let tp: TestPlatform;
  let token: Awaited<ReturnType<typeof createWorkerToken>>;
  const workers: WorkerProc[] = [];

  before(async () => {
    tp = await startTestPlatform({ executor: false });
    token = await createWorkerToken(tp.url, tp.token, "two workers test");
    workers.push(...(await Promise.all([1, 2].map(() => startWorkerProcess({ url: tp.url, token: token.secret, slots: 1 })))));
  });
  after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await token?.revoke();
    await tp?.close();
  });

  it("both workers take runs of the batch, and every run succeeds", { timeout: 180_000 }, async () => {
    const ws = wsName("pair");
    const { mod } = await importProject("basic");
    await mod.sleeper.deploy(ws, { client: tp.client });
    const runs = await triggerRuns(tp.client, { workspace: ws, name: "sleeper" }, { batch: Array.from({ length: 20 }, () => toWire([300]) as unknown[]) });
    const ids = runs.map((r) => r.id);
    const done = await eventually(
      async () => {
        const r = await tp.api("POST", "/runs/wait", { ids, timeoutMs: 0 });
        return r.json.runs.length === ids.length && r.json.runs.every((x: { status: string }) => TERMINAL.has(x.status)) && r.json.runs;
      },
      150_000,
      "every run of the batch to finish",
    );
    assert.deepEqual(done.filter((r: { status: string }) => r.status !== "succeeded"), [], "no run failed");
    const holders = new Set<string>();
    for (const id of ids) holders.add((await tp.platform.ctx.store.getRun(id))!.workerId!);
    assert.deepEqual([...holders].sort(), workers.map((w) => w.id).sort(), "runs were executed by both workers");
  });
});
