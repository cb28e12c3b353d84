import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { list, type ReadEntry } from "tar";
import { BundleTooLargeError, ManifestError, dryRunManifest, packBundle } from "../../src/bundle/index.ts";
import { baseManifest, tempDir, writeTree } from "./_helpers.ts";

async function tarEntries(tarball: Buffer): Promise<{ path: string; type: string; mode?: number; mtime?: Date }[]> {
  const out: { path: string; type: string; mode?: number; mtime?: Date }[] = [];
  const p = list({ onReadEntry: (e: ReadEntry) => void out.push({ path: e.path, type: e.type, mode: e.mode, mtime: e.mtime }) });
  await new Promise<void>((res, rej) => {
    p.on("end", res);
    p.on("error", rej);
    p.end(tarball);
  });
  return out;
}

describe("packBundle", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    await writeTree(dir, {
      "package.json": JSON.stringify({ name: "p", dependencies: { nbox: "file:../.." } }),
      "ops.ts": "export const foo = 1;\n",
      "lib/util.ts": "export const u = 2;\n",
      ".nboxignore": "*.log\n!keep.log\n",
      "debug.log": "noise",
      "keep.log": "kept",
      "node_modules/x/index.js": "x",
    });
  });
  afterEach(() => cleanup());

  it("is deterministic: same content, same bytes and hash", async () => {
    const a = await packBundle(dir, baseManifest);
    const b = await packBundle(dir, { ...baseManifest, resource: {} });
    assert.equal(a.manifest.contentHash, b.manifest.contentHash);
    assert.ok(a.tarball.equals(b.tarball));
    assert.match(a.manifest.contentHash, /^[0-9a-f]{64}$/);
    // touching mtime only does not matter
    await writeFile(path.join(dir, "ops.ts"), "export const foo = 1;\n");
    const c = await packBundle(dir, baseManifest);
    assert.ok(a.tarball.equals(c.tarball));
  });

  it("changes the hash when a file, init arg or resource changes", async () => {
    const base = (await packBundle(dir, baseManifest)).manifest.contentHash;
    const withInit = (await packBundle(dir, { ...baseManifest, init: [1] })).manifest.contentHash;
    const withRes = (await packBundle(dir, { ...baseManifest, resource: { cpu: 2 } })).manifest.contentHash;
    await writeFile(path.join(dir, "lib/util.ts"), "export const u = 3;\n");
    const changed = (await packBundle(dir, baseManifest)).manifest.contentHash;
    assert.equal(new Set([base, withInit, withRes, changed]).size, 4);
    // key order inside resource does not matter
    const r1 = (await packBundle(dir, { ...baseManifest, resource: { a: 1, b: 2 } })).manifest.contentHash;
    const r2 = (await packBundle(dir, { ...baseManifest, resource: { b: 2, a: 1 } })).manifest.contentHash;
    assert.equal(r1, r2);
  });

  it("writes nbox.json first, files sorted, portable headers, without touching the user's folder", async () => {
    const before = (await readdir(dir)).sort();
    const r = await packBundle(dir, baseManifest);
    assert.deepEqual((await readdir(dir)).sort(), before);
    const entries = await tarEntries(r.tarball);
    assert.deepEqual(
      entries.map((e) => e.path),
      ["nbox.json", ".nboxignore", "keep.log", "lib/util.ts", "ops.ts", "package.json"],
    );
    assert.ok(entries.every((e) => e.mtime === undefined || e.mtime.getTime() === 0));
    const raw = gunzipSync(r.tarball);
    const manifest = JSON.parse(raw.subarray(512, 512 + 2000).toString("utf8").split("\0")[0]!);
    assert.deepEqual(manifest, r.manifest);
    assert.equal(r.ignoredCount, 2); // debug.log, node_modules/
    assert.equal(r.totalBytes, r.files.reduce((n, f) => n + f.size, 0));
  });

  it("hashes package-lock.json into lockfileHash", async () => {
    assert.equal((await packBundle(dir, baseManifest)).manifest.lockfileHash, null);
    const lock = JSON.stringify({ lockfileVersion: 3, packages: {} });
    await writeFile(path.join(dir, "package-lock.json"), lock);
    const m = (await packBundle(dir, baseManifest)).manifest;
    assert.equal(m.lockfileHash, createHash("sha256").update(lock).digest("hex"));
  });

  it("throws BundleTooLargeError listing the 5 largest files and .nboxignore", async () => {
    await writeTree(dir, {
      "data/a.bin": Buffer.alloc(6000),
      "data/b.bin": Buffer.alloc(5000),
      "data/c.bin": Buffer.alloc(4000),
      "data/d.bin": Buffer.alloc(3000),
      "data/e.bin": Buffer.alloc(2000),
      "data/f.bin": Buffer.alloc(1000),
    });
    await assert.rejects(packBundle(dir, baseManifest, { maxBytes: 10_000 }), (e: unknown) => {
      assert.ok(e instanceof BundleTooLargeError);
      assert.deepEqual(e.largest.map((f) => f.path), ["data/a.bin", "data/b.bin", "data/c.bin", "data/d.bin", "data/e.bin"]);
      assert.match(e.message, /data\/a\.bin\s+5\.9 KiB/);
      assert.match(e.message, /\.nboxignore/);
      assert.doesNotMatch(e.message, /f\.bin/);
      return true;
    });
    // the same files fit once excluded by an extra pattern
    const ok = await packBundle(dir, baseManifest, { maxBytes: 10_000, ignore: ["data/"] });
    assert.ok(ok.files.every((f) => !f.path.startsWith("data/")));
  });

  it("dry run returns manifest, files and sizes without building a tarball", async () => {
    await writeTree(dir, { "big.bin": Buffer.alloc(2048) });
    const d = await dryRunManifest(dir, baseManifest, { maxBytes: 1000 });
    const p = await packBundle(dir, baseManifest);
    assert.equal(d.manifest.contentHash, p.manifest.contentHash);
    assert.deepEqual(d.files.map((f) => f.path), p.files.map((f) => f.path));
    assert.equal(d.overLimit, true);
    assert.equal(d.ignoredCount, 2);
    assert.ok(d.ignored.includes("debug.log"));
    assert.ok(!("tarball" in d));
    assert.ok(d.totalBytes >= 2048);
  });

  it("rejects a project nbox.json, an excluded entry and bad manifest fields", async () => {
    await assert.rejects(packBundle(dir, { ...baseManifest, entry: "debug.log" }), /not in the bundle/);
    await assert.rejects(packBundle(dir, { ...baseManifest, kind: "nope" as "fn" }), /field "kind"/);
    await writeFile(path.join(dir, "nbox.json"), "{}");
    await assert.rejects(packBundle(dir, baseManifest), (e: unknown) => e instanceof ManifestError && /reserved/.test(e.message));
  });

  it("accepts ./-prefixed entries and long paths", async () => {
    const long = `${"d".repeat(80)}/${"e".repeat(80)}/${"f".repeat(60)}.ts`;
    await writeTree(dir, { [long]: "x" });
    const r = await packBundle(dir, { ...baseManifest, entry: "./ops.ts" });
    assert.equal(r.manifest.entry, "ops.ts");
    assert.ok((await tarEntries(r.tarball)).some((e) => e.path === long));
  });
});
