import { randomBytes } from "node:crypto";
import pg from "pg";
import { openStore } from "../../../src/platform/store/index.ts";
import type { StoreHarness } from "./conformance.ts";

export const TEST_DATABASE_URL = process.env.NBOX_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** null when no Postgres answers (the suite is then skipped, with the reason). */
export async function postgresUnavailable(): Promise<string | null> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return null;
  } catch (err) {
    return `no Postgres at ${TEST_DATABASE_URL}: ${(err as Error).message}`;
  } finally {
    await client.end().catch(() => {});
  }
}

/** A fresh schema `t_<random>`; stores reach it through `search_path` in the connection string. */
export async function makePostgresHarness(): Promise<StoreHarness> {
  const schemaName = `t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${schemaName}`);
  } finally {
    await admin.end();
  }
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set("options", `-c search_path=${schemaName}`);
  return {
    shared: true,
    open: (opts) => openStore({ databaseUrl: url.toString(), ...opts }),
    async dispose() {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${schemaName} CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}
