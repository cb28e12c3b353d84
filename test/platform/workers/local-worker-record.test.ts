import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { earlierLocalWorker, forgetLocalWorker, recordLocalWorker } from "../../../src/platform/workers/local-worker-record.ts";
import { freshDataDir, startTestPlatform } from "../jobs/_helpers.ts";

const dir = () => mkdtempSync(join(tmpdir(), "nbx-local-record-"));

describe("the data folder's record of its local worker", () => {
  it("a recorded worker of a start that did not stop cleanly is found; a clean stop forgets it", () => {
    const d = dir();
    try {
      assert.equal(earlierLocalWorker(d), undefined, "a first start has none");
      recordLocalWorker(d, "tok_1");
      assert.deepEqual({ ...earlierLocalWorker(d), boot: undefined }, { tokenId: "tok_1", pid: process.pid, host: hostname(), boot: undefined });
      assert.equal(statSync(join(d, "local-worker.json")).mode & 0o777, 0o600);
      assert.deepEqual(readdirSync(d), ["local-worker.json"], "no temporary file left behind");
      // A clean stop removes its own record only (another start may have written one since).
      forgetLocalWorker(d, "tok_other");
      assert.equal(earlierLocalWorker(d)?.tokenId, "tok_1");
      forgetLocalWorker(d, "tok_1");
      assert.equal(earlierLocalWorker(d), undefined);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("the record of a control plane still running on the folder is not an earlier start's", async () => {
    const d = dir();
    const other = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60_000)"], { stdio: "ignore" });
    try {
      const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
      const write = (rec: object) => writeFileSync(join(d, "local-worker.json"), JSON.stringify({ tokenId: "tok_live", pid: other.pid, host: hostname(), boot, ...rec }));
      write({});
      assert.equal(earlierLocalWorker(d), undefined);
      // Written on another host (a data folder on a shared volume): its pid says nothing here.
      other.kill("SIGKILL");
      await new Promise((r) => other.once("exit", r));
      write({ host: `not-${hostname()}` });
      assert.equal(earlierLocalWorker(d), undefined);
      write({});
      assert.equal(earlierLocalWorker(d)?.tokenId, "tok_live");
    } finally {
      other.kill("SIGKILL");
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("a record of an earlier boot of this machine is an earlier start's, whatever runs under its pid now", () => {
    const d = dir();
    try {
      writeFileSync(join(d, "local-worker.json"), JSON.stringify({ tokenId: "tok_before_reboot", pid: process.ppid, host: hostname(), boot: "an-earlier-boot" }));
      assert.equal(earlierLocalWorker(d)?.tokenId, "tok_before_reboot");
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("a torn or foreign record is ignored (its runs come back when their lease lapses)", () => {
    const d = dir();
    try {
      for (const text of ['{"tokenId": "tok', "", "null", '{"tokenId": 5, "pid": 1}', '{"pid": 1}']) {
        writeFileSync(join(d, "local-worker.json"), text);
        assert.equal(earlierLocalWorker(d), undefined, text);
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe("a start after a crash and the recorded local worker's token", () => {
  // A failed assertion must not leave a platform running (the test process would never end).
  const open: Array<{ close(): Promise<void> }> = [];
  const data: string[] = [];
  after(async () => {
    for (const p of open) await p.close().catch(() => {});
    for (const d of data) rmSync(d, { recursive: true, force: true });
  });
  const start = async (dir: string) => {
    const tp = await startTestPlatform({ executor: false }, dir);
    open.push(tp);
    return tp;
  };

  it("a recorded worker token is revoked at the next start; a record naming any other token revokes nothing", { timeout: 120_000 }, async () => {
    const dir = await freshDataDir();
    data.push(dir);
    const first = await start(dir);
    const admin = (await first.api("GET", "/tokens")).json.tokens.find((t: { scope: string }) => t.scope === "admin");
    const worker = (await first.api("POST", "/tokens", { worker: true, name: "a crashed start's local worker" })).json.token;
    await first.close();

    // A record naming the admin token (a hand-edited or planted file): the admin token lives on.
    writeFileSync(join(dir, "local-worker.json"), JSON.stringify({ tokenId: admin.id, pid: process.pid, host: hostname() }));
    const second = await start(dir);
    const afterSecond = (await second.api("GET", "/tokens")).json.tokens;
    assert.equal(afterSecond.find((t: { id: string }) => t.id === admin.id).revokedAt, null);
    await second.close();

    // A record naming a worker token: revoked by the start that finds it.
    recordLocalWorker(dir, worker.id);
    const third = await start(dir);
    const afterThird = (await third.api("GET", "/tokens")).json.tokens;
    assert.notEqual(afterThird.find((t: { id: string }) => t.id === worker.id).revokedAt, null);
    assert.equal(afterThird.find((t: { id: string }) => t.id === admin.id).revokedAt, null);
  });
});
