// Files the platform rewrites (platform.json, local-worker.json, the CLI's current platform) are
// written whole or not at all; a writer that died mid-write leaves a temporary file, which the next
// durable write of the same file removes once it is surely abandoned.
import { it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "../../src/lib/write-file-atomic.ts";

it("writes the whole file with its mode and leaves no temporary file", () => {
  const dir = mkdtempSync(join(tmpdir(), "nbx-atomic-"));
  try {
    writeFileAtomic(join(dir, "a.json"), "one");
    writeFileAtomic(join(dir, "a.json"), "two", { mode: 0o600 });
    assert.equal(readFileSync(join(dir, "a.json"), "utf8"), "two");
    assert.equal(statSync(join(dir, "a.json")).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ["a.json"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it("removes temporary files of the same file that dead writers left, not a live writer's or another file's", () => {
  const dir = mkdtempSync(join(tmpdir(), "nbx-atomic-"));
  try {
    const old = (name: string) => {
      writeFileSync(join(dir, name), "half");
      const then = new Date(Date.now() - 10 * 60_000);
      utimesSync(join(dir, name), then, then);
    };
    old("platform.json.0123456789ab.tmp"); // a power loss mid-write
    old("other.json.0123456789ab.tmp"); // another file's: its own writes sweep it
    old("platform.json.notours.tmp");
    writeFileSync(join(dir, "platform.json.fedcba987654.tmp"), "being written right now");
    writeFileAtomic(join(dir, "platform.json"), "{}");
    assert.deepEqual(readdirSync(dir).sort(), ["other.json.0123456789ab.tmp", "platform.json", "platform.json.fedcba987654.tmp", "platform.json.notours.tmp"]);
    // A cache write (not durable) does not look.
    old("cache.json.0123456789ab.tmp");
    writeFileAtomic(join(dir, "cache.json"), "{}", { durable: false });
    assert.ok(readdirSync(dir).includes("cache.json.0123456789ab.tmp"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
