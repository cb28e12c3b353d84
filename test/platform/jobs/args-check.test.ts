// A job's arguments are checked when it is triggered, as a serving's are when it is called: the
// count against the recorded signature, each value against the parameter types recorded at
// deploy. A bad list is refused (400 BAD_ARGS, naming the parameter and the signature) before
// anything is queued, inline, by reference and in batches.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { toWire } from "../../../src/codec/index.ts";
import { importProject, startTestPlatform, wsName, type TestPlatform } from "./_helpers.ts";

describe("jobs e2e: argument checks at trigger", () => {
  let tp: TestPlatform;
  let remote: any;
  let ws: string;
  const trigger = (body: unknown) => tp.api("POST", `/workspaces/${ws}/deployments/add/runs`, body);
  const runCount = async () => (await tp.api("GET", `/runs?workspace=${ws}&deployment=add&limit=500`)).json.runs.length as number;

  before(async () => {
    tp = await startTestPlatform({ maxBodyBytes: 64 * 1024 });
    const { mod } = await importProject("typed");
    ws = wsName("args");
    remote = await mod.add.deploy(ws);
  });
  after(async () => {
    await tp?.close();
  });

  it("too few, too many and wrongly typed arguments get 400 BAD_ARGS naming the parameter and the signature", async () => {
    const before = await runCount();
    const cases: [unknown[], RegExp][] = [
      [[], /add\(a, b\?\) takes 1-2 arguments, got 0/],
      [[1, 2, 3], /add\(a, b\?\) takes 1-2 arguments, got 3/],
      [["1"], /add\(a, b\?\): argument a must be number \(got "1"\)/],
      [[1, "2"], /add\(a, b\?\): argument b must be number \(got "2"\)/],
    ];
    for (const [args, message] of cases) {
      const r = await trigger({ args: toWire(args) });
      assert.equal(r.status, 400, JSON.stringify(r.json));
      assert.equal(r.json.error.code, "BAD_ARGS");
      assert.match(r.json.error.message, message);
    }
    assert.equal(await runCount(), before, "nothing was queued");
  });

  it("a batch with one bad item is refused whole, naming the item", async () => {
    const before = await runCount();
    const r = await trigger({ batch: [toWire([1]), toWire([2, 3]), toWire([true])] });
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.match(r.json.error.message, /batch\[2\]: add\(a, b\?\): argument a must be number \(got true\)/);
    assert.equal(await runCount(), before, "no half batch was queued");
  });

  it("an argument list sent by reference is checked too", async () => {
    const big = "x".repeat(2 * 1024 * 1024); // above the SDK's by-reference threshold
    await assert.rejects(remote(big), (e: Error) => /add\(a, b\?\): argument a must be number/.test(e.message));
  });

  it("right calls run (a left-out optional argument is fine)", async () => {
    assert.equal(await remote(1, 2), 3);
    assert.equal(await remote(5), 5);
    assert.equal(await remote(5, undefined), 5);
    assert.deepEqual(await remote.map([1, 2, 3]), [1, 2, 3]);
    const r = await trigger({ args: toWire([40, 2]), wait: true });
    assert.equal(r.status, 201, JSON.stringify(r.json));
  });
});
