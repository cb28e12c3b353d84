// Two nbox installs sharing one worker cache (two projects on one machine, each with its own nbox)
// each prepare their own copy of a version: a version's `node_modules/nbox` links the install that
// prepared it, and the other install's sandbox does not show that one. The same install, named
// through a symlink, shares its copies.
import assert from "node:assert/strict";
import { mkdirSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { open } from "node:fs/promises";
import { after, describe, it, mock } from "node:test";
import { packBundle } from "../../src/bundle/index.ts";
import { installId, workerPaths } from "../../src/worker/paths.ts";
import { Versions } from "../../src/worker/versions.ts";
import { baseManifest, tempDir, writeTree } from "../bundle/_helpers.ts";

describe("worker versions across nbox installs", () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups) await c();
  });

  it("each install prepares and links its own copy; one install reached through a symlink shares it", async () => {
    const { dir: root, cleanup } = await tempDir("nbox-versions-");
    cleanups.push(cleanup);
    const project = join(root, "project");
    await writeTree(project, { "ops.ts": "export const foo = (x: number) => x;\n", "package.json": JSON.stringify({ name: "p", type: "module" }) });
    const packed = await packBundle(project, baseManifest);
    const installA = join(root, "a", "node_modules", "nbox");
    const installB = join(root, "b", "node_modules", "nbox");
    for (const d of [installA, installB]) {
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, "package.json"), JSON.stringify({ name: "nbox" }));
    }
    symlinkSync(installA, join(root, "a-again"));
    const cache = join(root, "cache");
    const source = { manifest: async () => packed.manifest, download: async (_hash: string, file: string) => writeFileSync(file, packed.tarball) };
    const prepared = async (install: string) => {
      const dir = await new Versions(workerPaths(cache, install), source).prepare(packed.manifest);
      return { dir, nbox: readlinkSync(join(dir, "node_modules", "nbox")) };
    };
    const a = await prepared(installA);
    const b = await prepared(installB);
    assert.notEqual(a.dir, b.dir, "two installs, two copies");
    assert.deepEqual([a.nbox, b.nbox], [installA, installB], "each links its own nbox");
    assert.equal(installId(join(root, "a-again")), installId(installA));
    assert.equal((await prepared(join(root, "a-again"))).dir, a.dir, "the same install shares its copy");
  });

  it("a prepared version is on the disk before it is marked ready: every file of it is synced", async () => {
    const { dir: root, cleanup } = await tempDir("nbox-versions-sync-");
    cleanups.push(cleanup);
    const project = join(root, "project");
    await writeTree(project, { "ops.ts": "export const foo = (x: number) => x;\n", "lib/util.ts": "export const u = 1;\n", "package.json": JSON.stringify({ name: "p", type: "module" }) });
    const packed = await packBundle(project, baseManifest);
    const install = join(root, "nbox");
    mkdirSync(install, { recursive: true });
    writeFileSync(join(install, "package.json"), JSON.stringify({ name: "nbox" }));
    const source = { manifest: async () => packed.manifest, download: async (_hash: string, file: string) => writeFileSync(file, packed.tarball) };
    const probe = await open(join(project, "ops.ts"), "r");
    const proto = Object.getPrototypeOf(probe) as { sync(): Promise<void> };
    await probe.close();
    const synced = new Set<string>();
    const sync = mock.method(proto, "sync", async function (this: { fd: number }) {
      synced.add(readlinkSync(`/proc/self/fd/${this.fd}`));
    });
    let dir: string;
    try {
      dir = await new Versions(workerPaths(join(root, "cache"), install), source).prepare(packed.manifest);
    } finally {
      sync.mock.restore();
    }
    // Synced under the staging name it had before the rename into place.
    const names = [...synced].map((p) => p.replace(/^.*\.prepare-[^/]+/, dir));
    for (const f of ["ops.ts", join("lib", "util.ts"), "package.json", "nbox.json"]) assert.ok(names.includes(join(dir, f)), `${f} was synced: ${names.join(", ")}`);
  });
});
