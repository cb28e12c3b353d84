import assert from "node:assert/strict";
import { lstat, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { Header } from "tar";
import {
  BundleHashMismatchError,
  BundleLimitError,
  ManifestError,
  extractBundle,
  packBundle,
  verifyBundle,
  verifyBundleInThread,
} from "../../src/bundle/index.ts";
import { readBundle } from "../../src/bundle/read-bundle.ts";
import { writeTar, writeTarGz, type TarEntry } from "../../src/bundle/tar-writer.ts";
import { baseManifest, sealedBundle, tempDir, writeTree } from "./_helpers.ts";

const file = (p: string, data: string, mode = 0o644): TarEntry => ({ path: p, type: "File", mode, data: Buffer.from(data) });
const hashOf = (entries: TarEntry[]) => JSON.parse(entries[0]!.data!.toString()).contentHash as string;

/** A tar header block declaring a file of `size` bytes (its body need not follow). */
function header(p: string, size: number): Buffer {
  const h = new Header({ path: p, mode: 0o644, size, type: "File", mtime: new Date(0), uid: 0, gid: 0 });
  h.encode();
  return h.block!;
}

describe("verifyBundle", () => {
  let work: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir: work, cleanup } = await tempDir());
  });
  after(() => cleanup());

  it("accepts what packBundle makes, from a file or bytes, with the hash the SDK computed", async () => {
    const src = path.join(work, "project");
    await writeTree(src, { "package.json": "{}", "ops.ts": "export const foo = 1;\n", "lib/a.ts": "export const a = 1;\n" });
    const packed = await packBundle(src, { ...baseManifest, init: [{ $t: "x" }], state: { a: { n: 1 } } });
    const tgz = path.join(work, "packed.tgz");
    await writeFile(tgz, packed.tarball);
    for (const source of [tgz, packed.tarball]) {
      const v = await verifyBundle(source, packed.manifest.contentHash);
      assert.deepEqual(v.manifest, packed.manifest);
      assert.equal(v.entries, 5); // nbox.json, package.json, ops.ts, lib/, lib/a.ts
    }
  });

  it("refuses other content under a hash, naming both hashes", async () => {
    const good = sealedBundle([file("ops.ts", "export const foo = 1;")]);
    const other = sealedBundle([file("ops.ts", "export const foo = 2;")]);
    // Other code under the good bundle's nbox.json.
    const poison = writeTarGz([good[0]!, other[1]!]);
    await assert.rejects(verifyBundle(poison, hashOf(good)), (e: unknown) => {
      assert.ok(e instanceof BundleHashMismatchError);
      assert.ok(e.message.includes(hashOf(good)) && e.message.includes(hashOf(other)), e.message);
      return true;
    });
    // A valid bundle asked for under another hash; the content's own hash with a foreign nbox.json.
    await assert.rejects(verifyBundle(writeTarGz(good), hashOf(other)), BundleHashMismatchError);
    await assert.rejects(verifyBundle(poison, hashOf(other)), /nbox\.json says contentHash/);
  });

  it("stops at a header that declares more than a limit, before reading its bytes", async () => {
    const m = sealedBundle([])[0]!;
    const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
    const head = pad(Buffer.concat([header("nbox.json", m.data!.length), m.data!]));
    // Only the headers are there: a reader that inflated the bodies first would fail as truncated instead.
    const huge = gzipSync(Buffer.concat([head, header("big.bin", 5 * 1024 ** 3)]));
    await assert.rejects(verifyBundle(huge, "0".repeat(64)), (e: unknown) => e instanceof BundleLimitError && e.limit === "maxFileBytes");
    const twoBig = gzipSync(Buffer.concat([head, header("a.bin", 1024), Buffer.alloc(1024), header("b.bin", 2048)]));
    await assert.rejects(verifyBundle(twoBig, "0".repeat(64), { maxUnpackedBytes: 3000 }), (e: unknown) => e instanceof BundleLimitError && e.limit === "maxUnpackedBytes");
  });

  it("limits entries (implied folders count), nesting depth and path length", async () => {
    const files = Array.from({ length: 10 }, (_, i) => file(`f${i}.txt`, ""));
    await verifyBundle(writeTarGz(sealedBundle(files)), hashOf(sealedBundle(files)), { maxEntries: 11 });
    await assert.rejects(verifyBundle(writeTarGz(sealedBundle(files)), "0".repeat(64), { maxEntries: 10 }), (e: unknown) => e instanceof BundleLimitError && e.limit === "maxEntries");
    const nested = sealedBundle([file("a/b/c/d.txt", "")]);
    await assert.rejects(verifyBundle(writeTarGz(nested), hashOf(nested), { maxEntries: 4 }), /more than 4 entries/);
    await assert.rejects(verifyBundle(writeTarGz(nested), hashOf(nested), { maxDepth: 3 }), (e: unknown) => e instanceof BundleLimitError && e.limit === "maxDepth");
    const long = sealedBundle([file(`${"x".repeat(200)}/${"y".repeat(200)}.txt`, "")]);
    await assert.rejects(verifyBundle(writeTarGz(long), hashOf(long), { maxPathLength: 300 }), (e: unknown) => e instanceof BundleLimitError && e.limit === "maxPathLength");
    await verifyBundle(writeTarGz(long), hashOf(long));
  });

  it("wants nbox.json first, once, as a file; never reads past the end-of-archive marker", async () => {
    const b = sealedBundle([file("ops.ts", "x")]);
    await assert.rejects(verifyBundle(writeTarGz([b[1]!, b[0]!]), hashOf(b)), (e: unknown) => e instanceof ManifestError && /must be its first entry/.test(e.message));
    await assert.rejects(verifyBundle(writeTarGz([...b, b[0]!]), hashOf(b)), /a second nbox\.json/);
    // 1 GiB of zeros after the marker (64 gzip members of 16 MiB): not inflated, not counted.
    const zeros = gzipSync(Buffer.alloc(16 * 1024 * 1024));
    const trailing = Buffer.concat([gzipSync(writeTar(b)), ...Array.from({ length: 64 }, () => zeros)]);
    const read = await readBundle(trailing);
    assert.equal(read.contentHash, hashOf(b));
    assert.ok(read.unpackedBytes < 64 * 1024, `read ${read.unpackedBytes} bytes`);
  });

  it("gives the same errors on a worker thread", async () => {
    const b = sealedBundle([file("ops.ts", "x"), file("a/b.ts", "y")]);
    const tgz = path.join(work, "thread.tgz");
    await writeFile(tgz, writeTarGz(b));
    assert.equal((await verifyBundleInThread(tgz, hashOf(b))).manifest.contentHash, hashOf(b));
    await assert.rejects(verifyBundleInThread(tgz, hashOf(b), { maxEntries: 2 }), (e: unknown) => e instanceof BundleLimitError && e.limit === "maxEntries" && e.max === 2);
    await assert.rejects(verifyBundleInThread(tgz, "0".repeat(64)), (e: unknown) => e instanceof BundleHashMismatchError && e.expected === "0".repeat(64));
  });
});

describe("extractBundle: modes", () => {
  let work: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir: work, cleanup } = await tempDir());
  });
  after(() => cleanup());

  it("strips setuid/setgid/sticky bits: files 0644 or 0755, folders 0755; nbox.json as validated", async () => {
    const b = sealedBundle([
      file("bin/suid", "#!/bin/sh\n", 0o4755),
      file("bin/sgid", "#!/bin/sh\n", 0o2711),
      file("data/sticky.txt", "d", 0o1666),
      file("data/private.txt", "p", 0o600),
    ]);
    const withExtra = { ...b[0]!, data: Buffer.from(JSON.stringify({ ...JSON.parse(b[0]!.data!.toString()), extra: "not hashed" })) };
    const dest = path.join(work, "modes");
    await extractBundle(writeTarGz([withExtra, { path: "bin/", type: "Directory", mode: 0o3777 }, ...b.slice(1)]), dest, { expectedHash: hashOf(b) });
    const mode = async (p: string) => (await lstat(path.join(dest, p))).mode & 0o7777;
    assert.equal(await mode("bin/suid"), 0o755);
    assert.equal(await mode("bin/sgid"), 0o755);
    assert.equal(await mode("data/sticky.txt"), 0o644);
    assert.equal(await mode("data/private.txt"), 0o644);
    assert.equal(await mode("bin"), 0o755);
    assert.equal(await mode("data"), 0o755);
    assert.equal(JSON.parse(await readFile(path.join(dest, "nbox.json"), "utf8")).extra, undefined);
  });
});
