// A project whose package.json is `"type": "commonjs"` (what `npm init -y` writes) and whose
// TypeScript imports TypeScript: it runs locally under tsx, so it must deploy and run remotely too —
// as a job, as a serving and through `nbx deploy`. (Its .ts files compile to CommonJS: imports
// between them are require() calls, and its exports reach import() only as `default`.)
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { importProject, REPO, startTestPlatform, type TestPlatform } from "./_helpers.ts";

let tp: TestPlatform;
let dir: string;
let mod: any;

before(async () => {
  tp = await startTestPlatform();
  ({ dir, mod } = await importProject("commonjs"));
});
after(async () => {
  await tp?.close();
});

describe("a CommonJS-typed TypeScript project", () => {
  it("deploys as a job and runs remotely like locally", async () => {
    assert.equal(await mod.squared(5), 25);
    const remote = await mod.squared.deploy("cjs-project", { client: tp.client });
    assert.equal(await remote(6), 36);
  });

  it("deploys as a serving that keeps its state", async () => {
    const tally = await mod.Tally.deploy("cjs-project", { client: tp.client });
    assert.equal(await tally.add(2), 4);
    assert.equal(await tally.add(3), 13);
  });

  it("deploys with `nbx deploy file.ts:export` (the CLI's TypeScript loader), then runs", async () => {
    const env = { ...process.env, NBOX_URL: tp.url, NBOX_TOKEN: tp.token, NODE_OPTIONS: "" };
    // Not spawnSync: the platform answering the CLI runs in this process.
    await promisify(execFile)(process.execPath, [join(REPO, "bin/nbx.js"), "deploy", "ops.ts:squared", "--workspace", "cjs-cli", "--name", "sq", "--json"], { cwd: dir, env }).catch((err: { stdout?: string; stderr?: string }) =>
      assert.fail(`nbx deploy failed:\n${err.stdout}\n${err.stderr}`),
    );
    const run = (await tp.api("POST", "/workspaces/cjs-cli/deployments/sq/runs", { args: [7], wait: true })).json;
    assert.equal(run.run?.status ?? run.status, "succeeded", JSON.stringify(run));
  });
});
