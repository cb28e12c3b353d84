// A worker's serving listener answers only the control plane: a request without (or with a wrong)
// proxy secret is refused before any serving is looked up, so a caller who finds the worker's port
// cannot skip the control plane's token check.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestPlatform, type TestPlatform } from "./_helpers.ts";

describe("worker listener", () => {
  let tp: TestPlatform;
  before(async () => {
    tp = await startTestPlatform({ slots: 1 });
  });
  after(async () => {
    await tp?.close();
  });

  it("refuses requests that did not come through the control plane", async () => {
    const [local] = (await tp.platform.ctx.store.listLiveWorkers()).filter((w) => w.local);
    assert.ok(local?.address, "the local worker registered its listener");
    for (const headers of [{}, { "x-nbox-serving-secret": "guess" }, { authorization: `Bearer ${tp.token}` }] as Array<Record<string, string>>) {
      const res = await fetch(`${local.address}/s/any/Thing/who_are_you`, { headers });
      assert.equal(res.status, 403, JSON.stringify(headers));
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, "FORBIDDEN");
    }
  });
});
