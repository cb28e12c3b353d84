// resource.concurrency bounds the runs of one deployment at once; other deployments still use
// the free slots; startedAt is when the attempt really started (not when it was claimed ahead).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { importProject, startTestPlatform, wsName, type TestPlatform } from "./_helpers.ts";

describe("jobs e2e: per-deployment concurrency", () => {
  let tp: TestPlatform;
  let mod: any;
  before(async () => {
    tp = await startTestPlatform({ slots: 3 });
    ({ mod } = await importProject("basic"));
  });
  after(async () => {
    await tp?.close();
  });

  it("concurrency: 1 runs one at a time while another deployment runs beside it", async () => {
    const ws = wsName("conc");
    const one = await mod.sleeper.deploy(ws, { client: tp.client, resource: { concurrency: 1 } });
    const free = await mod.square.deploy(ws, { client: tp.client });
    const runs = await Promise.all([one.trigger(300), one.trigger(300), one.trigger(300)]);
    assert.deepEqual(await free.map([1, 2, 3]), [1, 4, 9], "the other deployment is not blocked");
    await Promise.all(runs.map((r: any) => r.result()));
    const infos = (await Promise.all(runs.map((r: any) => r.info()))).map((i: any) => [Date.parse(i.startedAt), Date.parse(i.finishedAt)] as const);
    infos.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < infos.length; i++) {
      assert.ok(infos[i]![0] >= infos[i - 1]![1] - 5, `run ${i} started before run ${i - 1} finished: ${JSON.stringify(infos)}`);
    }
  });

  it("without a limit the same runs overlap (the slots are used)", async () => {
    const ws = wsName("conc-free");
    const many = await mod.sleeper.deploy(ws, { client: tp.client });
    const runs = await Promise.all([many.trigger(400), many.trigger(400), many.trigger(400)]);
    await Promise.all(runs.map((r: any) => r.result()));
    const infos = (await Promise.all(runs.map((r: any) => r.info()))).map((i: any) => [Date.parse(i.startedAt), Date.parse(i.finishedAt)] as const);
    const overlap = infos.some((a, i) => infos.some((b, j) => i !== j && a[0] < b[1] && b[0] < a[1]));
    assert.ok(overlap, `expected overlapping runs: ${JSON.stringify(infos)}`);
  });
});
