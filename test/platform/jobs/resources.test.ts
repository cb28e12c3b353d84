// resource.memory caps a job's heap (the run fails like a crash, the next run works); a bad
// quantity is refused at deploy time.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseMemory } from "../../../src/lib/quantity.ts";
import { workerExecArgv } from "../../../src/worker/resource-limits.ts";
import { importProject, startTestPlatform, wsName, type TestPlatform } from "./_helpers.ts";

describe("jobs e2e: resource.memory", () => {
  let tp: TestPlatform;
  let mod: any;
  before(async () => {
    tp = await startTestPlatform();
    ({ mod } = await importProject("basic"));
  });
  after(async () => {
    await tp?.close();
  });

  it("quantities parse like Kubernetes ones and become a V8 heap limit", () => {
    assert.equal(parseMemory("512Mi"), 512 * 1024 ** 2);
    assert.equal(parseMemory("1Gi"), 1024 ** 3);
    assert.equal(parseMemory("500M"), 500e6);
    assert.equal(parseMemory("2048"), 2048);
    assert.throws(() => parseMemory("lots"), /not a memory quantity/);
    assert.deepEqual(workerExecArgv({ memory: "256Mi" }), ["--max-old-space-size=256"]);
    assert.deepEqual(workerExecArgv({}), []);
  });

  it("a job over its memory fails (and the next one runs); without the limit the same work succeeds", async () => {
    const ws = wsName("mem");
    const capped = await mod.hog.deploy(ws, { client: tp.client, name: "hog-capped", resource: { memory: "48Mi" } });
    await assert.rejects(capped(120), (err: Error) => /exited|memory|signal|crash/i.test(err.message));
    assert.equal(await capped(1), 1, "the next run gets a fresh process");
    const free = await mod.hog.deploy(ws, { client: tp.client, name: "hog-free" });
    assert.equal(await free(120), 120);
  });

  it("a bad memory quantity is refused at deploy time", async () => {
    await assert.rejects(mod.hog.deploy(wsName("mem-bad"), { client: tp.client, resource: { memory: "lots" } }), /resource\.memory "lots"/);
  });
});
