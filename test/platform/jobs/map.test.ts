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
