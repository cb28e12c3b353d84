import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { earlierLocalWorker, forgetLocalWorker, recordLocalWorker } from "../../../src/platform/workers/local-worker-record.ts";

const dir = () => mkdtempSync(join(tmpdir(), "nbx-local-record-"));

describe("the data folder's record of its local worker", () => {
  it("a recorded worker of a start that did not stop cleanly is found; a clean stop forgets it", () => {
    const d = dir();
    try {
      assert.equal(earlierLocalWorker(d), undefined, "a first start has none");
      recordLocalWorker(d, "tok_1");
      assert.deepEqual(earlierLocalWorker(d), { tokenId: "tok_1", pid: process.pid });
      assert.equal(statSync(join(d, "local-worker.json")).mode & 0o777, 0o600);
      assert.deepEqual(readdirSync(d), ["local-worker.json"], "no temporary file left behind");
      forgetLocalWorker(d);
      assert.equal(earlierLocalWorker(d), undefined);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("the record of a control plane still running on the folder is not an earlier start's", async () => {
    const d = dir();
    const other = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60_000)"], { stdio: "ignore" });
    try {
      writeFileSync(join(d, "local-worker.json"), JSON.stringify({ tokenId: "tok_live", pid: other.pid }));
      assert.equal(earlierLocalWorker(d), undefined);
      other.kill("SIGKILL");
      await new Promise((r) => other.once("exit", r));
      assert.deepEqual(earlierLocalWorker(d), { tokenId: "tok_live", pid: other.pid });
    } finally {
      other.kill("SIGKILL");
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
