// What the platform deletes on its own: argument lists uploaded by reference once they are an hour
// old (they are staging: a trigger copies them into its runs), and — only with a retention window —
// runs that ended before it, with their logs, through the store every deployment's runs live in.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Retention } from "../../../src/platform/retention.ts";
import { blobsDir } from "../../../src/platform/blob-staging.ts";
import { importProject, startTestPlatform, wsName, type TestPlatform } from "./_helpers.ts";

const HOUR = 3_600_000;

describe("jobs e2e: retention", () => {
  let tp: TestPlatform;
  let remote: any;
  let ws: string;
  before(async () => {
    tp = await startTestPlatform({ maxBodyBytes: 256 * 1024, retainMs: HOUR });
    const { mod } = await importProject("basic");
    ws = wsName("retain");
    remote = await mod.measure.deploy(ws, { client: tp.client });
  });
  after(async () => {
    await tp?.close();
  });

  it("uploaded argument lists go once an hour old, fresh ones stay; runs inside the window stay", async () => {
    const big = "y".repeat(2 * 1024 * 1024);
    assert.equal(await remote(big), big.length);
    const dir = blobsDir(tp.dataDir);
    const [blob] = readdirSync(dir);
    assert.ok(blob, "the argument list was uploaded by reference");
    const twoHoursAgo = new Date(Date.now() - 2 * HOUR);
    utimesSync(join(dir, blob), twoHoursAgo, twoHoursAgo);
    writeFileSync(join(dir, "left-by-a-crash.json.123.tmp"), "{");
    utimesSync(join(dir, "left-by-a-crash.json.123.tmp"), twoHoursAgo, twoHoursAgo);
    writeFileSync(join(dir, "fresh.json"), "[]");
    const run = await remote.trigger("abc");
    assert.equal(await run.result(), 3);

    const pass = await tp.platform.retention.pass();
    assert.equal(pass.blobs, 2);
    assert.deepEqual(readdirSync(dir), ["fresh.json"]);
    assert.equal(pass.runs, 0, "nothing ended an hour ago");
    assert.equal((await tp.api("GET", `/runs/${run.id}`)).status, 200);
    // The same argument list again: uploaded again, the run gets it whole.
    assert.equal(await remote(big), big.length);
  });

  it("runs that ended before the window go with their logs (seen two hours later), through the API too", async () => {
    const runs = [await remote.trigger("a"), await remote.trigger("bb")];
    assert.deepEqual(await Promise.all(runs.map((r: any) => r.result())), [1, 2]);
    const later = new Retention(tp.platform.ctx.store, { retainMs: HOUR, blobsDir: blobsDir(tp.dataDir), now: () => Date.now() + 2 * HOUR });
    const pass = await later.pass();
    assert.ok(pass.runs >= 2, `this test's runs went (${pass.runs})`);
    for (const r of runs) {
      const got = await tp.api("GET", `/runs/${r.id}`);
      assert.equal(got.status, 404, `run ${r.id} is gone: ${JSON.stringify(got.json)}`);
      assert.equal((await tp.api("GET", `/runs/${r.id}/logs`)).status, 404);
    }
    const listed = await tp.api("GET", `/runs?workspace=${ws}`);
    assert.equal(listed.status, 200);
    const ids = (listed.json.runs as Array<{ id: string }>).map((r) => r.id);
    assert.ok(runs.every((r: any) => !ids.includes(r.id)), `the workspace lists none of them: ${ids}`);
    // The deployment itself stays and runs on.
    assert.equal(await remote("abcd"), 4);
  });
});
