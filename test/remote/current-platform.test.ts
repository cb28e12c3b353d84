// The user's record of the platform in use: a second `nbx up` keeps the first under its record, so
// once it stops (or is killed) the CLI and SDK find the first again instead of "no longer running".
import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clearCurrentPlatform, currentFile, readCurrentPlatform, writeCurrentPlatform } from "../../src/remote/current-platform.ts";

describe("~/.nbox/current.json with more than one nbx up", () => {
  let home: string;
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env.NBOX_HOME;
    home = mkdtempSync(join(tmpdir(), "nbox-current-"));
    process.env.NBOX_HOME = home;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.NBOX_HOME;
    else process.env.NBOX_HOME = saved;
    rmSync(home, { recursive: true, force: true });
  });

  const deadPid = () => spawnSync(process.execPath, ["-e", "0"]).pid!;
  const up = (name: string, pid: number) => {
    const tokenFile = join(home, `${name}-token`);
    writeFileSync(tokenFile, `nbx_${name}\n`);
    writeCurrentPlatform({ source: "up", url: `http://${name}`, tokenFile, pid, dataDir: join(home, name), writtenAt: new Date().toISOString() });
  };

  it("the first nbx up is current again once the second stops cleanly", () => {
    up("first", process.ppid);
    up("second", process.pid);
    assert.deepEqual(readCurrentPlatform(), { url: "http://second", token: "nbx_second" });
    clearCurrentPlatform(process.pid);
    assert.deepEqual(readCurrentPlatform(), { url: "http://first", token: "nbx_first" });
    clearCurrentPlatform(process.ppid);
    assert.equal(existsSync(currentFile()), false, "the last one to stop removes the record");
  });

  it("the first nbx up is found while the second is gone without cleaning up (killed)", () => {
    up("first", process.pid);
    up("second", deadPid());
    assert.deepEqual(readCurrentPlatform(), { url: "http://first", token: "nbx_first" });
    up("third", process.ppid);
    const rec = JSON.parse(readFileSync(currentFile(), "utf8"));
    assert.equal(rec.previous.url, "http://first", "dead platforms are not kept under a new record");
    assert.equal(rec.previous.previous, undefined);
  });

  it("when every recorded nbx up is gone, the error names the newest; nbx login replaces the lot", () => {
    up("first", deadPid());
    up("second", deadPid());
    assert.throws(() => readCurrentPlatform(), /the platform recorded in .* \(http:\/\/second, nbx up pid \d+/);
    up("third", process.pid);
    writeCurrentPlatform({ source: "login", url: "http://remote", token: "nbx_remote", writtenAt: new Date().toISOString() });
    assert.equal(JSON.parse(readFileSync(currentFile(), "utf8")).previous, undefined);
    assert.deepEqual(readCurrentPlatform(), { url: "http://remote", token: "nbx_remote" });
  });
});
