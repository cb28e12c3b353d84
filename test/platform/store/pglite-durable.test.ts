// The embedded store survives a power cut: Postgres runs with fsync on, flushes its WAL with fsync()
// and that fsync reaches the file on disk (PGlite as shipped runs with fsync off and its Node
// filesystem drops fsyncs, so a commit only reached the OS's cache).
import { after, before, describe, it, mock } from "node:test";
import assert from "node:assert/strict";
import fs, { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { openStore, type Store } from "../../../src/platform/store/index.ts";
import { rowsOf } from "../../../src/platform/store/migrations.ts";
import { openDurablePglite } from "../../../src/platform/store/pglite-durable.ts";

describe("the embedded store is durable", () => {
  let dir: string;
  let store: Store;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "nbox-store-durable-"));
    store = await openStore({ dataDir: dir });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the store's Postgres syncs its commits: fsync on, WAL flushed with fsync()", async () => {
    const setting = async (name: string) => rowsOf<Record<string, string>>(await store.db.execute(sql.raw(`show ${name}`)))[0]![name];
    assert.equal(await setting("fsync"), "on");
    assert.equal(await setting("wal_sync_method"), "fsync");
    assert.equal(await setting("synchronous_commit"), "on");
    // Shared buffers are zeroed at every start in the WebAssembly build: kept small (pglite-durable.ts).
    assert.equal(await setting("shared_buffers"), "32MB");
  });

  it("a commit reaches the disk: Postgres's fsync becomes an fsync of the file", async () => {
    const pg = openDurablePglite(join(dir, "direct"));
    try {
      await pg.waitReady;
      await pg.exec("create table t (id int primary key)");
      const fsync = mock.method(fs, "fsyncSync");
      try {
        await pg.query("insert into t values (1)");
        assert.ok(fsync.mock.callCount() >= 1, "the commit synced its WAL to the disk");
      } finally {
        fsync.mock.restore();
      }
    } finally {
      await pg.close();
    }
  });
});
