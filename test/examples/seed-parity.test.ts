// The remote half of the tutorial: each example's deploy.ts, run as its README says, against a real platform.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { basename } from "node:path";
import { promisify } from "node:util";
import { startTestPlatform, type TestPlatform } from "../platform/jobs/_helpers.ts";
import { exampleDirs, linkAllExamples } from "./link-nbox.ts";

const run = promisify(execFile);

describe("examples deployed", () => {
  let tp: TestPlatform;
  const deployScript = (name: string) => {
    const cwd = exampleDirs().find((d) => basename(d) === name)!;
    return run(process.execPath, ["--import", "tsx", "deploy.ts"], { cwd, timeout: 120_000, env: { ...process.env, NBOX_URL: tp.url, NBOX_TOKEN: tp.token } });
  };
  before(async () => {
    linkAllExamples();
    tp = await startTestPlatform();
  });
  after(async () => {
    await tp?.close();
  });

  it("foo/deploy.ts: job remote equals the local call; trigger, map and fromJob work", async () => {
    const { stdout } = await deployScript("foo");
    const lines = stdout.trim().split("\n");
    assert.equal(lines[0], "fooRemote(10) = 100 (local: 100)");
    assert.match(lines[1]!, /^run run_\w+: 49 \(succeeded\)$/);
    assert.equal(lines[2], "fooRemote.map([1, 2, 3]) = [1,4,9]");
    assert.equal(lines[3], `fromJob("foo")() = 16`);
  });

  it("bar/deploy.ts: the serving behaves like the local object", async () => {
    const { stdout } = await deployScript("bar");
    assert.equal(stdout.trim(), ["bar.x === await barRemote.x: true", "fromServing(url, token).getvalue() = 2"].join("\n"));
  });
});
