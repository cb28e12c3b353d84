// A run whose result is larger than the control plane takes in one request (`--max-body`) fails once
// with ResultTooLargeError: its worker's report was refused as too large and dropped with the finish,
// and the run lapsed back into the queue and ran again and again.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestPlatform, wsName, type TestPlatform } from "../platform/jobs/_helpers.ts";
import { importProject } from "../platform/serving/_helpers.ts";

const OPS = `import { operator } from "nbox";
export const sized = operator(function sized(n: number) { return "x".repeat(n); });
`;
const FILES = { "package.json": JSON.stringify({ name: "report-too-large", private: true, type: "module" }), "ops.ts": OPS };
const MAX_BODY = 256 * 1024;

describe("a result larger than the control plane's body limit", () => {
  let tp: TestPlatform;
  let job: any;

  before(async () => {
    // A short lease: a finish that never arrives shows as the run taken back and run again within seconds.
    tp = await startTestPlatform({ leaseMs: 2_000, maxBodyBytes: MAX_BODY });
    const { mod } = await importProject(FILES);
    job = await mod.sized.deploy(wsName("too-large"), { client: tp.client, maxRetries: 0 });
  });
  after(async () => {
    await tp?.close();
  });

  it("fails its run once, saying why and what to do; a result that fits still arrives", async () => {
    const r = await job.trigger(400_000);
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error("no outcome within 20 s")), 20_000)));
    const error = await Promise.race([r.result().then(() => undefined, (e: Error) => e), timeout]).finally(() => clearTimeout(t));
    assert.match(String(error?.message), /more than the control plane takes in one request \(262144 bytes, its --max-body\)/);
    const run = (await tp.api("GET", `/runs/${r.id}`)).json.run;
    assert.deepEqual([run.status, run.attempt, run.error?.name], ["failed", 1, "ResultTooLargeError"], JSON.stringify(run.error));
    assert.equal((await job(1_000)).length, 1_000);
  });
});
