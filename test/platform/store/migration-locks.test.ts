// On a shared Postgres a migration that alters a table waits for every session using it, and every
// statement on that table queues behind it: a migration must give up on a lock held elsewhere
// (and try again), not stall the cluster behind one long transaction.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { LATEST_VERSION, MIGRATIONS, migrate, rowsOf } from "../../../src/platform/store/migrations.ts";
import { openStore, type Store } from "../../../src/platform/store/index.ts";
import { sql } from "drizzle-orm";
import { makePostgresHarness, postgresUnavailable, TEST_DATABASE_URL } from "./pg-harness.ts";
import type { StoreHarness } from "./conformance.ts";

const unavailable = await postgresUnavailable();
const skip = unavailable && process.env.CI !== "true" ? unavailable : false;

describe("migrations and locks held by other sessions (Postgres)", { skip }, () => {
  let harness: StoreHarness;
  let store: Store;
  let holder: pg.Client;
  before(async () => {
    harness = await makePostgresHarness();
    await (await harness.open()).close(); // migrated to the latest version
    store = await harness.open({ migrate: false });
  });
  after(async () => {
    await holder?.end().catch(() => {});
    await store?.close();
    await harness?.dispose();
  }, { timeout: 30_000 }); // a cleanup stuck behind a lock fails this file instead of holding up the whole run

  const schemaOf = async () => rowsOf<{ s: string }>(await store.db.execute(sql`select current_schema() as s`))[0]!.s;
  /** The table the last migration alters: the one another session holds here. */
  const altered = /ALTER TABLE (\w+)/.exec(MIGRATIONS.at(-1)!)?.[1];
  /** The last migration is pending again (it is written to be applied twice), and a session holds the table it alters. */
  const holdAltered = async () => {
    assert.ok(altered, "the last migration alters a table (this test needs one that does)");
    await store.db.execute(sql`delete from nbox_migrations where version = ${LATEST_VERSION}`);
    holder = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await holder.connect();
    await holder.query(`set search_path = ${await schemaOf()}`);
    await holder.query("begin");
    await holder.query(`select count(*) from ${altered}`); // holds ACCESS SHARE on it until it ends
  };
  const appliedVersions = async () => rowsOf<{ version: number }>(await store.db.execute(sql`select version from nbox_migrations order by version`)).map((r) => Number(r.version));

  it("gives up while the lock is still held, saying what held it up; applies once it is free", { timeout: 60_000 }, async () => {
    await holdAltered();
    await assert.rejects(migrate(store.db, Date.now, { lockTimeoutMs: 150, attempts: 2 }), (err: Error) => {
      assert.match(err.message, new RegExp(`schema to version ${LATEST_VERSION}: another session held a table lock it needs for more than 150 ms, 2 times`));
      assert.match(err.message, /pg_stat_activity/);
      return true;
    });
    assert.ok(!(await appliedVersions()).includes(LATEST_VERSION), "nothing applied");
    // Other sessions were not left queued behind it: the holder's transaction still works.
    await holder.query("select count(*) from runs");
    await holder.query("commit");
    await holder.end();
    const r = await migrate(store.db, Date.now, { lockTimeoutMs: 150, attempts: 2 });
    assert.deepEqual(r.applied, [LATEST_VERSION]);
  });

  it("tries again and succeeds when the lock is released between its tries", { timeout: 60_000 }, async () => {
    await holdAltered();
    const release = setTimeout(() => void holder.query("commit"), 300);
    try {
      const r = await migrate(store.db, Date.now, { lockTimeoutMs: 150, attempts: 6 });
      assert.deepEqual(r.applied, [LATEST_VERSION]);
      assert.ok((await appliedVersions()).includes(LATEST_VERSION));
    } finally {
      clearTimeout(release);
      await holder.end().catch(() => {});
    }
  });
});
