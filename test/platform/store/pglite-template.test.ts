// A new embedded data folder is a copy of an empty cluster made once per installed PGlite version:
// the copy is keyed by the real version (a template of another version is never copied), and every
// file of a copy is on the disk before the folder gets its name.
import assert from "node:assert/strict";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, it, mock } from "node:test";
import { PGlite } from "@electric-sql/pglite";
import { pgliteVersion, seedPgdata } from "../../../src/platform/store/pglite-template.ts";

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe("the embedded store's data folder template", () => {
  it("is kept per installed PGlite version", () => {
    const require = createRequire(import.meta.url);
    const entry = require.resolve("@electric-sql/pglite");
    const installed = JSON.parse(readFileSync(join(entry.slice(0, entry.lastIndexOf("node_modules/@electric-sql/pglite/") + "node_modules/@electric-sql/pglite/".length), "package.json"), "utf8")).version;
    assert.match(installed, /^\d+\.\d+\.\d+/);
    assert.equal(pgliteVersion(), installed);
  });

  it("is copied into a new data folder whose every file is synced before the folder has its name", async () => {
    const root = await mkdtemp(join(tmpdir(), "nbox-template-test-"));
    const pgdata = join(root, "data", "pgdata");
    const probe = await open(import.meta.filename, "r");
    const proto = Object.getPrototypeOf(probe) as { sync(): Promise<void> };
    await probe.close();
    const synced = new Set<string>();
    const sync = mock.method(proto, "sync", async function (this: { fd: number }) {
      synced.add(readlinkSync(`/proc/self/fd/${this.fd}`));
    });
    try {
      await seedPgdata(pgdata, PGlite);
    } finally {
      sync.mock.restore();
    }
    try {
      const files = filesUnder(pgdata);
      assert.ok(files.includes("PG_VERSION") && files.length > 100, `a cluster was copied (${files.length} files)`);
      // Synced under the staging name it had before the rename into place.
      const seen = new Set([...synced].flatMap((p) => (p.startsWith(`${pgdata}.seed-`) ? [p.slice(p.indexOf("/", pgdata.length + 1) + 1)] : [])));
      const missing = files.filter((f) => !seen.has(f));
      assert.deepEqual(missing, [], "every file of the copy was synced");
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
