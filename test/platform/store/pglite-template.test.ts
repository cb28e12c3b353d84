// A new embedded data folder is a copy of an empty cluster made once per installed PGlite version:
// the copy is keyed by the real version (a template of another version is never copied), it lives in
// a folder only its user can write in (another local user cannot plant one), and every file of a copy
// is on the disk before the folder gets its name.
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { chmod, mkdir, mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, it, mock } from "node:test";
import { PGlite } from "@electric-sql/pglite";
import { spawnSync } from "node:child_process";
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
    // A copy a crash cut short, under another process's name.
    await mkdir(join(root, "data", "pgdata.seed-99999", "base"), { recursive: true });
    await writeFile(join(root, "data", "pgdata.seed-99999", "PG_VERSION"), "17\n");
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
      assert.equal(statSync(join(tmpdir(), `nbox-pglite-${process.getuid!()}`)).mode & 0o077, 0, "the templates' folder is this user's alone");
      assert.deepEqual(readdirSync(join(root, "data")), ["pgdata"], "no staging copy left beside it, neither its own nor an older one's");
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("is never taken from a folder another user can write in (a planted template would seed every new data folder)", { skip: process.getuid === undefined }, async () => {
    const base = await mkdtemp(join(tmpdir(), "nbox-template-planted-"));
    const before = process.env.NBOX_PGLITE_TEMPLATE_DIR;
    process.env.NBOX_PGLITE_TEMPLATE_DIR = base;
    try {
      const shared = join(base, `nbox-pglite-${process.getuid!()}`);
      const planted = join(shared, `template-${pgliteVersion()}`);
      await mkdir(planted, { recursive: true });
      await chmod(shared, 0o777);
      await writeFile(join(planted, "PG_VERSION"), "17\n");
      await writeFile(join(planted, "planted"), "a token of someone else's\n");
      const pgdata = join(base, "data", "pgdata");
      await seedPgdata(pgdata, PGlite);
      assert.equal(existsSync(join(pgdata, "planted")), false, "the planted folder was not copied");
      assert.equal(existsSync(join(pgdata, "PG_VERSION")), false, "no copy at all: PGlite makes the cluster itself");
    } finally {
      if (before === undefined) delete process.env.NBOX_PGLITE_TEMPLATE_DIR;
      else process.env.NBOX_PGLITE_TEMPLATE_DIR = before;
      await rm(base, { recursive: true, force: true });
    }
  });

  it("sweeps the staging folders of template builds a crash cut short, never one still being built", async () => {
    const base = await mkdtemp(join(tmpdir(), "nbox-template-leftover-"));
    const before = process.env.NBOX_PGLITE_TEMPLATE_DIR;
    process.env.NBOX_PGLITE_TEMPLATE_DIR = base;
    // A process that is gone, for a pid no live process has.
    const gone = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
    try {
      const root = join(base, `nbox-pglite-${process.getuid?.() ?? ""}`);
      await mkdir(root, { mode: 0o700 });
      const template = join(root, `template-${pgliteVersion()}`);
      const crashed = `${template}.${gone}.${Date.now() - 5_000}`;
      const building = `${template}.${process.ppid}.${Date.now()}`;
      const ancient = `${template}.${process.ppid}.${Date.now() - 2 * 60 * 60_000}`;
      for (const d of [crashed, building, ancient]) {
        await mkdir(join(d, "base"), { recursive: true });
        await writeFile(join(d, "PG_VERSION"), "17\n");
      }
      await seedPgdata(join(base, "data", "pgdata"), PGlite);
      assert.ok(existsSync(join(base, "data", "pgdata", "PG_VERSION")), "seeded");
      assert.equal(existsSync(crashed), false, "its process is gone: swept");
      assert.equal(existsSync(ancient), false, "hours old (its pid was reused): swept");
      assert.equal(existsSync(building), true, "a live process's build of a moment ago is left alone");
    } finally {
      if (before === undefined) delete process.env.NBOX_PGLITE_TEMPLATE_DIR;
      else process.env.NBOX_PGLITE_TEMPLATE_DIR = before;
      await rm(base, { recursive: true, force: true });
    }
  });
});
