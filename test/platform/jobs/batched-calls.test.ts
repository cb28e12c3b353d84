// End to end, embedded: what happens to a map's short calls that travel several to a run (batched
// calls) when one of them crashes its process or runs past its time limit, and when the job retries.
// The queue backends do not take part in any of it (the worker and its process do), so this file runs
// on the embedded platform only; map.test.ts runs the common cases on both backends.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Run } from "../../../src/index.ts";
import { suitePlatform, wsName } from "./_helpers.ts";

describe("jobs e2e: batched calls", () => {
  const suite = suitePlatform("basic");

  const runsOf = async (remote: any) => (await suite.tp.api("GET", `/runs?deployment=${remote.deployment.id}&limit=100`)).json.runs;

  it("a job that retries gets one run per input, also through a handle made before it was redeployed with retries", async () => {
    const ws = wsName("batched-retries");
    const inputs = Array.from({ length: 20 }, (_, i) => i);
    const stale = await suite.mod.square.deploy(ws, { client: suite.tp.client, resource: { maxRetries: 0 } });
    const fresh = await suite.mod.square.deploy(ws, { client: suite.tp.client, resource: { maxRetries: 1, retryBackoffMs: 10 } });
    // The stale handle tries batched calls, is refused, and sends one call per run from then on.
    assert.deepEqual(await stale.map(inputs), inputs.map((x) => x * x));
    assert.deepEqual(await fresh.map(inputs), inputs.map((x) => x * x));
    const runs = await runsOf(fresh);
    assert.equal(runs.length, 40);
    assert.ok(runs.every((r: any) => r.calls === undefined));
  });

  it("a call that crashes its process ends only itself and the calls after it in its run; the calls before keep their values", async () => {
    const remote = await suite.mod.crash.deploy(wsName("batched-crash"), { client: suite.tp.client, resource: { maxRetries: 0 } });
    const inputs: (number | undefined)[] = Array.from({ length: 32 }, () => undefined);
    inputs[5] = 7;
    const out = await remote.map(inputs, { settle: true });
    const crashed = out[5] as any;
    assert.equal(crashed.ok, false);
    assert.equal(crashed.error.name, "WorkerCrashError");
    assert.equal(crashed.error.code, "WORKER_CRASHED");
    assert.equal(typeof crashed.call, "number", "it was a batched call");
    assert.match(crashed.error.message, /this call was running or next/);
    const run = await new Run(suite.tp.client, crashed.runId).info();
    assert.equal(run.status, "succeeded", "the run itself accounted for each of its calls");
    out.forEach((r: any, i: number) => {
      // Before it in its run (reported as the process exited) and in every other run: values.
      if (r.runId !== crashed.runId || r.call < crashed.call) assert.deepEqual([i, r.ok, r.value], [i, true, "alive"]);
      else if (i !== 5) assert.match(r.error.message, /may not have run/, `item ${i}`);
    });
  });

  it("a batched call past its time limit ends as timed out; the calls before it in its run keep their values", async () => {
    const remote = await suite.mod.spin.deploy(wsName("batched-hang"), { client: suite.tp.client, resource: { maxRetries: 0, timeoutMs: 300 } });
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
    const remote = await suite.mod.sleeper.deploy(wsName("batched-timeout"), { client: suite.tp.client, resource: { maxRetries: 0, timeoutMs: 200 } });
    // Two or more 120 ms calls to a run: over one call's 200 ms together, within it each.
    const out = await remote.map(Array.from({ length: 32 }, () => 120));
    assert.equal(out.length, 32);
    const runs = await runsOf(remote);
    assert.ok(runs.some((r: any) => r.calls >= 2), JSON.stringify(runs.map((r: any) => r.calls)));
  });
});
