// A folder about to be trusted (a prepared version, an installed dependency set) is put on the disk
// whole: every file and folder in it is synced; links are neither followed nor synced.
import { describe, it, mock } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { syncTree } from "../../src/lib/sync-tree.ts";

describe("syncTree", () => {
  it("syncs every file and folder under the root, and the root; links are left alone", async () => {
    const root = mkdtempSync(join(tmpdir(), "nbox-sync-tree-"));
    const outside = mkdtempSync(join(tmpdir(), "nbox-sync-tree-outside-"));
    try {
      mkdirSync(join(root, "a/b"), { recursive: true });
      writeFileSync(join(root, "top.js"), "1");
      writeFileSync(join(root, "a/one.js"), "2");
      writeFileSync(join(root, "a/b/two.js"), "3");
      writeFileSync(join(outside, "not-ours.js"), "4");
      symlinkSync(outside, join(root, "a/link-to-outside"));
      symlinkSync(join(root, "nowhere"), join(root, "dangling"));
      const probe = await open(join(root, "top.js"), "r");
      const proto = Object.getPrototypeOf(probe) as { sync(): Promise<void> };
      await probe.close();
      const synced: string[] = [];
      const sync = mock.method(proto, "sync", async function (this: { fd: number }) {
        synced.push(String(this.fd));
      });
      try {
        await syncTree(root);
      } finally {
        sync.mock.restore();
      }
      assert.equal(synced.length, 3 + 3, "three files and three folders (a/b, a, the root)");
    } finally {
      rmSync(root, { recursive: true, force: true });
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
