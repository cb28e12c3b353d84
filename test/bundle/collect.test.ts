import assert from "node:assert/strict";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { collectFiles } from "../../src/bundle/index.ts";
import { tempDir, writeTree } from "./_helpers.ts";

describe("collectFiles", () => {
  let dir: string;
  let outside: string;
  const cleanups: (() => Promise<void>)[] = [];
  before(async () => {
    const t = await tempDir();
    const o = await tempDir();
    cleanups.push(t.cleanup, o.cleanup);
    dir = t.dir;
    outside = o.dir;
    await writeTree(dir, {
      "package.json": "{}",
      "ops.ts": "export const x = 1;",
      ".gitignore": "*.log\n!keep.log\ndist/\n",
      ".nboxignore": "data/\nsecret.txt\n!dist/\n",
      "a.log": "x",
      "keep.log": "kept",
      "data/big.bin": "xxxx",
      "dist/out.js": "built",
      "secret.txt": "s",
      "src/lib.ts": "export {}",
      "src/.gitignore": "local-only.ts\n!b.log\n",
      "src/local-only.ts": "x",
      "src/b.log": "b",
      "src/c.log": "c",
      "src/deep/local-only.ts": "nested rules apply below their folder too",
      "src/deep/x.tmp": "x",
      "other/local-only.ts": "not matched: rule lives in src/",
      "node_modules/dep/index.js": "x",
      "src/node_modules/dep/index.js": "x",
      ".git/HEAD": "ref",
      ".nbox/platform.json": "{}",
      "Upper.TMP": "case-sensitive",
    });
    await writeFile(path.join(outside, "target.txt"), "outside");
    await symlink("src/lib.ts", path.join(dir, "link-in.ts"));
    await symlink(path.join(dir, "src"), path.join(dir, "link-dir"));
    await symlink(path.join(outside, "target.txt"), path.join(dir, "link-out.txt"));
    await symlink("../..", path.join(dir, "src", "link-up"));
    await symlink("missing.ts", path.join(dir, "dangling.ts"));
    await mkdir(path.join(dir, "empty"));
  });
  after(async () => {
    for (const c of cleanups) await c();
  });

  it("applies .gitignore/.nboxignore/extra rules, nested ignore files and fixed exclusions", async () => {
    const r = await collectFiles(dir, { ignore: ["*.tmp"] });
    const paths = r.files.map((f) => f.path);
    assert.deepEqual(paths, [
      ".gitignore",
      ".nboxignore",
      "Upper.TMP",
      "dist/out.js", // dropped by .gitignore, re-included by .nboxignore's !dist/
      "keep.log",
      "link-dir",
      "link-in.ts",
      "ops.ts",
      "other/local-only.ts",
      "package.json",
      "src/.gitignore",
      "src/b.log",
      "src/lib.ts",
    ]);
    assert.ok(!paths.includes("a.log"));
    assert.ok(!paths.some((p) => p.includes("node_modules") || p.startsWith(".git/") || p.startsWith(".nbox/")));
    // ignored: a.log data/ secret.txt node_modules/ .git/ .nbox/ src/local-only.ts src/c.log src/deep/* (2)
    // src/node_modules/ link-out.txt src/link-up dangling.ts
    assert.equal(r.ignoredCount, r.ignored.length);
    for (const p of ["a.log", "data/", "secret.txt", "node_modules/", ".git/", ".nbox/", "src/node_modules/", "link-out.txt", "src/link-up", "dangling.ts", "src/deep/local-only.ts", "src/deep/x.tmp"]) {
      assert.ok(r.ignored.includes(p), `expected ${p} to be ignored; got ${r.ignored.join(", ")}`);
    }
    assert.equal(r.ignoredCount, 14);
  });

  it("stores symlinks pointing inside root as relative links", async () => {
    const r = await collectFiles(dir);
    const linkIn = r.files.find((f) => f.path === "link-in.ts")!;
    assert.deepEqual({ kind: linkIn.kind, target: linkIn.target, size: linkIn.size }, { kind: "symlink", target: "src/lib.ts", size: 0 });
    // absolute link into root is rewritten relative
    assert.equal(r.files.find((f) => f.path === "link-dir")!.target, "src");
  });

  it("records sizes and normalised modes", async () => {
    await writeFile(path.join(dir, "run.sh"), "#!/bin/sh\n", { mode: 0o700 });
    const r = await collectFiles(dir);
    assert.equal(r.files.find((f) => f.path === "run.sh")!.mode, 0o755);
    assert.equal(r.files.find((f) => f.path === "keep.log")!.mode, 0o644);
    assert.equal(r.files.find((f) => f.path === "keep.log")!.size, 4);
  });
});
