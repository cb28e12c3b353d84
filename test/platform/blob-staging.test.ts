// Argument lists uploaded by reference are swept an hour after their upload; an upload of the same
// list that lands while the sweep is removing the old copy must survive it (its trigger comes next).
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { putBlob, readBlob, sweepBlobs } from "../../src/platform/blob-staging.ts";

const HOUR = 3_600_000;

describe("blob staging", () => {
  const dir = mkdtempSync(join(tmpdir(), "nbox-blobs-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const body = Buffer.from(JSON.stringify({ v: 1, args: ["x".repeat(1000)] }));
  const hash = createHash("sha256").update(body).digest("hex");

  it("an upload that lands while the sweep removes the old copy is kept", async () => {
    await putBlob(dir, hash, body);
    const old = new Date(Date.now() - 2 * HOUR);
    utimesSync(join(dir, `${hash}.json`), old, old);
    let upload: Promise<void> | undefined;
    const removed = await sweepBlobs(dir, Date.now() - HOUR, async () => {
      // The same list uploaded again at this very moment (the old copy judged too old already).
      upload = putBlob(dir, hash, body);
      await new Promise((r) => setTimeout(r, 100));
    });
    await upload;
    assert.equal(removed, 1, "the old copy went");
    assert.equal(await readBlob(dir, hash), body.toString(), "the new upload is there for its trigger");
    assert.deepEqual(readdirSync(dir), [`${hash}.json`], "no temporary file left behind");
    assert.equal(readFileSync(join(dir, `${hash}.json`), "utf8"), body.toString());
  });

  it("a blob cut short (a power cut before its bytes reached the disk) reads as not uploaded, and the next upload stores it again", async () => {
    await putBlob(dir, hash, body);
    writeFileSync(join(dir, `${hash}.json`), body.subarray(0, 100));
    assert.equal(await readBlob(dir, hash), undefined, "not parsed as a value");
    assert.deepEqual(readdirSync(dir), [], "the damaged file is gone");
    await putBlob(dir, hash, body);
    assert.equal(await readBlob(dir, hash), body.toString());
  });

  it("the same list uploaded many times at once: every upload succeeds, one file, no leftovers", async () => {
    await Promise.all(Array.from({ length: 20 }, () => putBlob(dir, hash, body)));
    assert.deepEqual(readdirSync(dir), [`${hash}.json`]);
    assert.equal(await readBlob(dir, hash), body.toString());
  });

  it("fresh uploads stay, old ones and half-written leftovers go; a missing one reads as undefined", async () => {
    await putBlob(dir, hash, body);
    assert.equal(await sweepBlobs(dir, Date.now() - HOUR), 0);
    assert.equal(await sweepBlobs(dir, Date.now() + 1), 1);
    assert.equal(await readBlob(dir, hash), undefined);
    assert.equal(await sweepBlobs(join(dir, "no-such-folder"), Date.now()), 0);
  });
});
