// End to end: remote map fans out every input as a call (short calls several to a run: batched
// calls), keeps input order, settles failures with their runs (retryable alone) and reports progress.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { RemoteError, Run } from "../../../src/index.ts";
import { flakyKey, importProject, startTestPlatform, wsName, type TestPlatform } from "./_helpers.ts";

describe("jobs e2e: remote map", () => {
  let tp: TestPlatform;
  let mod: any;
  before(async () => {
    tp = await startTestPlatform();
    ({ mod } = await importProject("basic"));
  });
  after(async () => {
    await tp?.close();
  });

  it("map([1..50]) returns results in input order and reports progress up to the total", async () => {
    const remote = await mod.square.deploy(wsName("map"), { client: tp.client });
    const inputs = Array.from({ length: 50 }, (_, i) => i + 1);
    const progress: [number, number][] = [];
    const out = await remote.map(inputs, { onProgress: (done: number, total: number) => progress.push([done, total]) });
    assert.deepEqual(out, inputs.map((x) => x * x));
    assert.ok(progress.length > 0);
    assert.deepEqual(progress.at(-1), [50, 50]);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]![0] >= progress[i - 1]![0], "progress never goes back");
    assert.ok(progress.every(([, t]) => t === 50));
    const runs = (await tp.api("GET", `/runs?deployment=${remote.deployment.id}&limit=100`)).json.runs;
    assert.equal(runs.reduce((n: number, r: any) => n + (r.calls ?? 1), 0), 50, "every input is one call of one run");
    assert.ok(runs.some((r: any) => r.calls > 1), `short calls share runs: ${JSON.stringify(runs.map((r: any) => r.calls))}`);
    assert.ok(runs.length < 50);
  });

  it("a job that retries gets one run per input (a batched call would not be retried alone)", async () => {
    const remote = await mod.square.deploy(wsName("map-retries"), { client: tp.client, name: "square-retried", resource: { maxRetries: 1, retryBackoffMs: 10 } });
    const inputs = Array.from({ length: 40 }, (_, i) => i);
    assert.deepEqual(await remote.map(inputs), inputs.map((x) => x * x));
    const runs = (await tp.api("GET", `/runs?deployment=${remote.deployment.id}&limit=100`)).json.runs;
    assert.equal(runs.length, 40);
    assert.ok(runs.every((r: any) => r.calls === undefined));
  });

  it("a handle made before its job was redeployed with retries falls back to one run per input", async () => {
    const ws = wsName("map-redeployed");
    const stale = await mod.square.deploy(ws, { client: tp.client, name: "square-later-retried", resource: { maxRetries: 0 } });
    await mod.square.deploy(ws, { client: tp.client, name: "square-later-retried", resource: { maxRetries: 2 } });
    const inputs = Array.from({ length: 40 }, (_, i) => i);
    assert.deepEqual(await stale.map(inputs), inputs.map((x) => x * x));
    const runs = (await tp.api("GET", `/runs?deployment=${stale.deployment.id}&limit=100`)).json.runs;
    assert.equal(runs.length, 40);
  });

  it("a call that crashes its process ends only itself and the calls after it in its run; the calls before keep their values", async () => {
    const remote = await mod.crash.deploy(wsName("map-crash"), { client: tp.client, resource: { maxRetries: 0 } });
    const inputs: (number | undefined)[] = Array.from({ length: 32 }, () => undefined);
    inputs[5] = 7;
    const out = await remote.map(inputs, { settle: true });
    const crashed = out[5] as any;
    assert.equal(crashed.ok, false);
    assert.equal(crashed.error.name, "WorkerCrashError");
    assert.equal(crashed.error.code, "WORKER_CRASHED");
    assert.equal(typeof crashed.call, "number", "it was a batched call");
    assert.match(crashed.error.message, /this call was running or next/);
    const run = await new Run(tp.client, crashed.runId).info();
    assert.equal(run.status, "succeeded", "the run itself accounted for each of its calls");
    out.forEach((r: any, i: number) => {
      // Before it in its run (reported as the process exited) and in every other run: values.
      if (r.runId !== crashed.runId || r.call < crashed.call) assert.deepEqual([i, r.ok, r.value], [i, true, "alive"]);
      else if (i !== 5) assert.match(r.error.message, /may not have run/, `item ${i}`);
    });
  });

  it("a batched call past its time limit ends as timed out; the calls before it in its run keep their values", async () => {
    const remote = await mod.spin.deploy(wsName("map-hang"), { client: tp.client, resource: { maxRetries: 0, timeoutMs: 300 } });
    const inputs = Array.from({ length: 32 }, (_, i) => i === 9);
    const out = await remote.map(inputs, { settle: true });
    const hung = out[9] as any;
    assert.equal(hung.ok, false);
    assert.equal(hung.error.code, "TIMEOUT");
    assert.match(hung.error.message, /timed out after 300 ms/);
    out.forEach((r: any, i: number) => {
      if (r.runId !== hung.runId) assert.deepEqual([i, r.ok, r.value], [i, true, "done"]);
      // The calls of its run the child had not reported yet end with it (they may not have run).
      else if (!r.ok) assert.equal(r.error.code, "TIMEOUT", `item ${i}`);
    });
  });

  it("a batched run's time limit is each call's: a run of calls that each keep to it runs to the end", async () => {
    const remote = await mod.sleeper.deploy(wsName("map-timeout"), { client: tp.client, resource: { maxRetries: 0, timeoutMs: 400 } });
    // Two or more 250 ms calls to a run: over one call's 400 ms together, within it each.
    const out = await remote.map(Array.from({ length: 32 }, () => 250));
    assert.equal(out.length, 32);
    const runs = (await tp.api("GET", `/runs?deployment=${remote.deployment.id}&limit=100`)).json.runs;
    assert.ok(runs.some((r: any) => r.calls >= 2), JSON.stringify(runs.map((r: any) => r.calls)));
  });

  it("map without settle rejects with the first RemoteError", async () => {
    const remote = await mod.picky.deploy(wsName("map-reject"), { client: tp.client, resource: { maxRetries: 0 } });
    await assert.rejects(remote.map([1, 2, 3, 4]), (e: any) => {
      const err = e instanceof RemoteError ? e : e.cause;
      assert.ok(err instanceof RemoteError, String(e));
      assert.equal(err.remoteName, "RangeError");
      assert.match(err.message, /picky does not like 3/);
      return true;
    });
  });

  it("settle: failed items are { ok: false, error, runId, call } in place; others keep their values; one call retries alone", async () => {
    const remote = await mod.picky.deploy(wsName("map-settle"), { client: tp.client, resource: { maxRetries: 0 } });
    const inputs = Array.from({ length: 20 }, (_, i) => i + 1);
    const out = await remote.map(inputs, { settle: true });
    assert.equal(out.length, 20);
    out.forEach((r: any, i: number) => {
      const x = inputs[i]!;
      assert.equal(typeof r.runId, "string", `item ${i} names its run`);
      if (x % 10 === 3) {
        assert.equal(r.ok, false);
        assert.ok(r.error instanceof RemoteError);
        assert.equal(r.error.remoteName, "RangeError");
        assert.match(r.error.message, new RegExp(`picky does not like ${x}\\b`));
        assert.equal(r.error.runId, r.runId);
      } else {
        assert.deepEqual({ ok: r.ok, value: r.value }, { ok: true, value: x * 2 });
      }
    });
    // A failed call that shared its run with others runs again alone.
    const failed = out.find((r: any) => !r.ok && typeof r.call === "number") as any;
    assert.ok(failed, `a failed item was a batched call: ${JSON.stringify(out.map((r: any) => r.call))}`);
    const batchedRun = await new Run(tp.client, failed.runId).info();
    assert.ok(batchedRun.status === "succeeded" && (batchedRun.calls ?? 0) > 1, "the run itself ran all its calls");
    const again = await new Run(tp.client, failed.runId).retry({ call: failed.call });
    await assert.rejects(again.result(), (e: any) => e.remoteName === "RangeError" && e.runId === again.id);
    const info = await again.info();
    assert.equal(info.calls, undefined, "a run of its own");
    assert.deepEqual(info.args, (batchedRun.args as unknown[])[failed.call], "with that call's arguments");
    const refused = await tp.api("POST", `/runs/${failed.runId}/retry`, { call: batchedRun.calls });
    assert.equal(refused.status, 400);
    assert.match(refused.json.error.message, /carries \d+ calls/);
  });

  it("a failed item's run can be retried alone with Run.retry()", async () => {
    const remote = await mod.flaky.deploy(wsName("map-retry"), { client: tp.client, resource: { maxRetries: 0 } });
    const keys = [0, 1, 2, 3].map((i) => flakyKey(`map${i}`));
    // flaky(key) fails on its first attempt and succeeds on its second.
    const out = await remote.map(keys, { settle: true });
    assert.ok(out.every((r: any) => r.ok === false && typeof r.runId === "string"));
    const before = (await tp.api("GET", `/runs?deployment=${remote.deployment.id}&limit=100`)).json.runs.length;
    assert.equal(before, 4);

    const again = await new Run(tp.client, out[2].runId).retry();
    assert.notEqual(again.id, out[2].runId);
    assert.equal(await again.result(), 2, "the item's second attempt succeeds");
    const info = await again.info();
    assert.equal(info.status, "succeeded");
    assert.deepEqual(info.args, (await new Run(tp.client, out[2].runId).info()).args, "same arguments");
    const after = (await tp.api("GET", `/runs?deployment=${remote.deployment.id}&limit=100`)).json.runs;
    assert.equal(after.length, 5, "exactly one new run");
    // The original run keeps its failure.
    assert.equal(await new Run(tp.client, out[2].runId).status(), "failed");
  });
});
