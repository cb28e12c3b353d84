// While calls are short a worker executes one run more per slot, sent behind a running call of its
// version. Behind a call that turns long, that run is taken back before it started and goes back to
// the queue untouched (its attempt not spent); while a call runs long no run is sent behind it, and
// the run taken back runs once the slot is free. Every run ends succeeded on its first attempt.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { importProject, startTestPlatform, wsName, type TestPlatform } from "./_helpers.ts";

describe("jobs e2e: a run sent behind a call that turns long", () => {
  let tp: TestPlatform;
  let mod: any;
  before(async () => {
    tp = await startTestPlatform({ slots: 1 });
    ({ mod } = await importProject("basic"));
  });
  after(async () => {
    await tp?.close();
  });

  it("goes back to the queue without spending an attempt, and runs after it", async () => {
    const ws = wsName("behind");
    const remote = await mod.sleeper.deploy(ws, { client: tp.client });
    // Short calls: the worker now sends a run behind the one in flight.
    assert.deepEqual(await remote.map([0, 0, 0, 0, 0, 0]), [0, 0, 0, 0, 0, 0]);
    // Queued together (one statement), claimed together: the quick one goes behind the long one.
    const runsPath = `/workspaces/${ws}/deployments/${remote.deployment.name}/runs`;
    const created = await tp.api("POST", runsPath, { batch: [[700], [0]] });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const [longId, quickId] = created.json.runs.map((r: any) => r.id as string);
    const finished = async (id: string) => {
      for (let i = 0; i < 6; i++) {
        const w = await tp.api("GET", `/runs/${id}/wait?timeoutMs=10000`);
        assert.equal(w.status, 200, JSON.stringify(w.json));
        if (!["queued", "running"].includes(w.json.run.status)) return w.json.run;
      }
      assert.fail(`run ${id} did not finish within a minute`);
    };
    const [long, quick] = [await finished(longId!), await finished(quickId!)];
    assert.deepEqual([long.status, long.result, long.attempt], ["succeeded", 700, 1]);
    assert.deepEqual([quick.status, quick.result, quick.attempt], ["succeeded", 0, 1], "no attempt spent waiting behind the long call");
    assert.ok(Date.parse(quick.startedAt) >= Date.parse(long.finishedAt) - 5, `it never started while the long call ran in the only slot: ${JSON.stringify([long.startedAt, long.finishedAt, quick.startedAt])}`);
    const logs = await tp.api("GET", `/runs/${quickId}/logs`);
    const system = logs.json.logs.filter((l: any) => l.stream === "system").map((l: any) => l.line as string);
    assert.equal(system.filter((l: string) => /never started; back in the queue \(attempt 1 not spent\)/.test(l)).length, 1, `handed back once: ${JSON.stringify(system)}`);
  });
});
