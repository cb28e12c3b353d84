// Values above the request-body limit travel by reference: the SDK uploads the
// argument list to /blobs and triggers with its hash; small ones stay inline.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { PlatformClient, type SendInit } from "../../../src/remote/client.ts";
import { importProject, startTestPlatform, wsName, type TestPlatform } from "./_helpers.ts";

class SpyClient extends PlatformClient {
  paths: string[] = [];
  protected override send(method: string, path: string, body?: unknown, init?: SendInit): Promise<unknown> {
    this.paths.push(`${method} ${path}`);
    return super.send(method, path, body, init);
  }
}

describe("jobs e2e: large arguments by reference", () => {
  let tp: TestPlatform;
  let remote: any;
  let spy: SpyClient;
  before(async () => {
    tp = await startTestPlatform({ maxBodyBytes: 256 * 1024 });
    spy = new SpyClient({ url: tp.url, token: tp.token });
    const { mod } = await importProject("basic");
    remote = await mod.measure.deploy(wsName("big"), { client: spy });
  });
  after(async () => {
    await tp?.close();
  });

  it("an argument far above the body limit is uploaded once and the run gets it whole", async () => {
    const big = "x".repeat(3 * 1024 * 1024); // 3 MiB vs a 256 KiB body limit
    spy.paths.length = 0;
    assert.equal(await remote(big), big.length);
    assert.ok(spy.paths.some((p) => p.startsWith("PUT /blobs/")), `uploaded by reference: ${spy.paths}`);
    const run = await remote.trigger(big);
    assert.equal(await run.result(), big.length);
    assert.deepEqual(await remote.map(["a", big, "abc"]), [1, big.length, 3], "batches mix inline and by-reference items");
  });

  it("small arguments stay inline (no upload)", async () => {
    spy.paths.length = 0;
    assert.equal(await remote("hello"), 5);
    assert.ok(!spy.paths.some((p) => p.startsWith("PUT /blobs/")));
  });

  it("the blob route checks the hash, the JSON and unknown refs", async () => {
    const body = JSON.stringify(["x"]);
    const wrong = await fetch(`${tp.url}/api/v1/blobs/${"0".repeat(64)}`, { method: "PUT", headers: { authorization: `Bearer ${tp.token}` }, body });
    assert.equal(wrong.status, 400);
    const notJson = "not json";
    const h = createHash("sha256").update(notJson).digest("hex");
    const bad = await fetch(`${tp.url}/api/v1/blobs/${h}`, { method: "PUT", headers: { authorization: `Bearer ${tp.token}` }, body: notJson });
    assert.equal(bad.status, 400);
    const r = await tp.api("POST", `/workspaces/${remote.deployment.workspace}/deployments/measure/runs`, { argsRef: "a".repeat(64) });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /was not uploaded/);
  });
});
