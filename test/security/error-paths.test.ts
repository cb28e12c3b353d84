// Error stacks reach HTTP callers (a serving's error body, a job run's error and spans in the API). They
// must name the user's file and line relative to the bundle, and no host path: not the bundle's
// folder, the data folder, the temp or home folder, nor where nbox itself is installed.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { homedir, tmpdir } from "node:os";
import { importProject, raw, REPO, startTestPlatform, wsName, type TestPlatform } from "../platform/serving/_helpers.ts";

const HELPERS_TS = `export class Kaboom extends Error {
  override name = "Kaboom";
}
export function fail(msg: string): never {
  throw new Kaboom(msg, { cause: new Error("the root cause") });
}
`;

const OPS_TS = `import { operator } from "nbox";
import { fail } from "./helpers.ts";

export const explode = operator(function explode(msg: string) {
  fail(msg);
});

@operator()
export class Exploder {
  boom(msg: string) {
    fail(msg);
  }
}
`;

/** 1-based line of the first line of `text` that contains `needle`. */
const lineOf = (text: string, needle: string, from = 0) => text.split("\n").findIndex((l, i) => i >= from && l.includes(needle)) + 1;

describe("security: error stacks sent to callers name no host path", () => {
  let tp: TestPlatform;
  let projectDir: string;
  let mod: any;
  before(async () => {
    tp = await startTestPlatform();
    ({ dir: projectDir, mod } = await importProject({
      "package.json": JSON.stringify({ name: "error-paths", private: true, type: "module" }),
      "helpers.ts": HELPERS_TS,
      "ops.ts": OPS_TS,
    }));
  });
  after(async () => {
    await tp?.close();
  });

  function assertHostFree(stack: unknown, callerLine: number): void {
    assert.equal(typeof stack, "string", "the error has a stack");
    const s = stack as string;
    // The user's frames, relative to the bundle root, with their lines.
    assert.match(s, new RegExp(`\\(helpers\\.ts:${lineOf(HELPERS_TS, "throw new Kaboom")}:\\d+\\)`), s);
    assert.match(s, new RegExp(`\\(ops\\.ts:${callerLine}:\\d+\\)`), s);
    // No absolute location anywhere: neither a path nor a file URL starts a location.
    assert.doesNotMatch(s, /(^|[\s(])(\/|file:)/m, s);
    const dataDir = tp.platform.ctx.config.dataDir;
    for (const hostPath of [tmpdir(), homedir(), REPO, dataDir, projectDir, "/root", "/tmp/"]) {
      assert.ok(!s.includes(hostPath), `the stack names ${hostPath}:\n${s}`);
    }
  }

  it("a job run's error, as the run API returns it", async () => {
    const remote = await mod.explode.deploy(wsName("errpaths"), { client: tp.client });
    const run = await remote.trigger("job went wrong");
    await assert.rejects(run.result(), /job went wrong/);
    const { status, json } = await tp.api("GET", `/runs/${run.id}`);
    assert.equal(status, 200);
    const error = json.run.error;
    assert.equal(error.name, "Kaboom");
    assertHostFree(error.stack, lineOf(OPS_TS, "fail(msg)"));
    // The run's trace keeps the error on the span that failed: the API serves it too.
    const spans = (await tp.api("GET", `/runs/${run.id}/spans`)).json.spans as { error?: { stack?: string } }[];
    const failed = spans.filter((s) => s.error?.stack);
    assert.ok(failed.length >= 1, "the failed call's span carries the error");
    for (const s of failed) assertHostFree(s.error!.stack, lineOf(OPS_TS, "fail(msg)"));
  });

  it("a serving call's error body", async () => {
    const remote = await mod.Exploder.deploy(wsName("errpaths"), { client: tp.client });
    const r = await raw(remote.$url, remote.$token, "POST", "call/boom", { args: ["serving went wrong"] });
    assert.equal(r.status, 500);
    assert.equal(r.json.error.name, "Kaboom");
    assert.equal(r.json.error.message, "serving went wrong");
    assertHostFree(r.json.error.stack, lineOf(OPS_TS, "fail(msg)", lineOf(OPS_TS, "boom(")));
  });
});
