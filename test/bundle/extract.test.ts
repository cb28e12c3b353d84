import assert from "node:assert/strict";
import { chmod, lstat, mkdir, readFile, readdir, readlink, symlink } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ManifestError, UnsafeBundleError, extractBundle, packBundle } from "../../src/bundle/index.ts";
import { writeTar, writeTarGz, type TarEntry } from "../../src/bundle/tar-writer.ts";
import { baseManifest, sealedBundle, tempDir, writeTree } from "./_helpers.ts";

const good: TarEntry[] = sealedBundle([{ path: "ops.ts", type: "File", mode: 0o644, data: Buffer.from("export const foo = 1;") }]);
const manifestJson = good[0]!.data!.toString();

describe("extractBundle", () => {
  let work: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir: work, cleanup } = await tempDir());
  });
  after(() => cleanup());
  let n = 0;
  const fresh = () => path.join(work, `dest-${n++}`);

  it("round-trips a packed project, including internal symlinks and modes", async () => {
    const src = path.join(work, "src-project");
    await writeTree(src, {
      "package.json": "{}",
      "ops.ts": "export const foo = 1;\n",
      "lib/a.ts": "export const a = 1;\n",
      "bin/run.sh": "#!/bin/sh\necho hi\n",
    });
    await chmod(path.join(src, "bin/run.sh"), 0o755);
    await symlink("../lib/a.ts", path.join(src, "bin/a.ts"));
    const packed = await packBundle(src, { ...baseManifest, init: [{ $t: "x" }], schedule: { cron: "* * * * *" } });
    const dest = fresh();
    const m = await extractBundle(packed.tarball, dest);
    assert.deepEqual(m, packed.manifest);
    assert.equal(await readFile(path.join(dest, "lib/a.ts"), "utf8"), "export const a = 1;\n");
    assert.equal(await readlink(path.join(dest, "bin/a.ts")), "../lib/a.ts");
    assert.equal(await readFile(path.join(dest, "bin/a.ts"), "utf8"), "export const a = 1;\n");
    assert.ok((await lstat(path.join(dest, "bin/run.sh"))).mode & 0o100);
    assert.deepEqual(JSON.parse(await readFile(path.join(dest, "nbox.json"), "utf8")), packed.manifest);
    // no temp leftovers next to dest
    assert.ok(!(await readdir(work)).some((f) => f.includes(".extract-")));
  });

  it("accepts an uncompressed tar and an existing empty destination", async () => {
    const dest = fresh();
    await mkdir(dest);
    const m = await extractBundle(writeTar(good), dest);
    assert.equal(m.export, "foo");
  });

  const bad: [string, TarEntry[], RegExp][] = [
    ["absolute path", [{ path: "/tmp/nbox-evil.txt", type: "File", mode: 0o644, data: Buffer.from("x") }], /absolute path/],
    ["dot-dot path", [{ path: "../evil.txt", type: "File", mode: 0o644, data: Buffer.from("x") }], /"\.\." path segment/],
    ["nested dot-dot path", [{ path: "a/../../evil.txt", type: "File", mode: 0o644, data: Buffer.from("x") }], /"\.\." path segment/],
    ["absolute symlink", [{ path: "link", type: "SymbolicLink", mode: 0o777, linkpath: "/etc/passwd" }], /is absolute/],
    ["escaping symlink", [{ path: "a/link", type: "SymbolicLink", mode: 0o777, linkpath: "../../outside" }], /escapes the bundle/],
    // Bundles never contain hard links (the SDK stores links as symlinks), so every hard link is refused.
    ["escaping hardlink", [{ path: "hl", type: "Link", mode: 0o644, linkpath: "../outside.txt" }], /Link is not allowed/],
    ["absolute hardlink", [{ path: "hl", type: "Link", mode: 0o644, linkpath: "/etc/passwd" }], /Link is not allowed/],
    [
      "symlink chain escape",
      [
        { path: "q", type: "SymbolicLink", mode: 0o777, linkpath: "." },
        { path: "p", type: "SymbolicLink", mode: 0o777, linkpath: "q/.." },
      ],
      /goes through a symlink/,
    ],
    [
      "write through a symlink",
      [
        { path: "d/x", type: "File", mode: 0o644, data: Buffer.from("x") },
        { path: "d", type: "SymbolicLink", mode: 0o777, linkpath: "e" },
      ],
      // Read as a stream: the folder "d" exists by the time the link "d" arrives.
      /a folder in the bundle has the same path/,
    ],
    [
      "write through a symlink (link first)",
      [
        { path: "d", type: "SymbolicLink", mode: 0o777, linkpath: "e" },
        { path: "d/x", type: "File", mode: 0o644, data: Buffer.from("x") },
      ],
      /path goes through a symlink/,
    ],
    ["character device", [{ path: "tty", type: "CharacterDevice", mode: 0o644 }], /CharacterDevice is not allowed/],
    ["block device", [{ path: "sda", type: "BlockDevice", mode: 0o644 }], /BlockDevice is not allowed/],
    ["fifo", [{ path: "pipe", type: "FIFO", mode: 0o644 }], /FIFO is not allowed/],
  ];
  for (const [label, extra, reason] of bad) {
    it(`rejects ${label} and leaves nothing behind`, async () => {
      const dest = fresh();
      await assert.rejects(extractBundle(writeTarGz([...good, ...extra]), dest), (e: unknown) => {
        assert.ok(e instanceof UnsafeBundleError, `expected UnsafeBundleError, got ${String(e)}`);
        assert.match(e.message, reason);
        return true;
      });
      await assert.rejects(lstat(dest), { code: "ENOENT" });
      assert.ok(!(await readdir(work)).some((f) => f.includes(".extract-")));
      await assert.rejects(lstat(path.join(work, "evil.txt")), { code: "ENOENT" });
    });
  }

  it("rejects missing or invalid nbox.json", async () => {
    await assert.rejects(extractBundle(writeTarGz(good.slice(1)), fresh()), ManifestError);
    const badManifest = [{ ...good[0]!, data: Buffer.from(JSON.stringify({ ...JSON.parse(manifestJson), kind: "zzz" })) }, good[1]!];
    const dest = fresh();
    await assert.rejects(extractBundle(writeTarGz(badManifest), dest), /field "kind"/);
    await assert.rejects(lstat(dest), { code: "ENOENT" });
  });

  it("rejects garbage, oversized archives and a non-empty destination", async () => {
    await assert.rejects(extractBundle(Buffer.from("definitely not a tarball".repeat(40)), fresh()), UnsafeBundleError);
    await assert.rejects(extractBundle(writeTarGz(good), fresh(), { limits: { maxUnpackedBytes: 10 } }), /expands to more than 10 B/);
    const dest = fresh();
    await writeTree(dest, { "existing.txt": "mine" });
    await assert.rejects(extractBundle(writeTarGz(good), dest), /not an empty folder/);
    assert.deepEqual(await readdir(dest), ["existing.txt"]);
  });
});
