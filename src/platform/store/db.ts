import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { Schema } from "./schema.ts";

/** The drizzle handle, whichever driver is underneath (PGlite or node-postgres). Transactions are one too. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export const STORE_KINDS = ["pglite", "postgres"] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

/** What every repository is built from. */
export interface RepoContext {
  db: Db;
  kind: StoreKind;
  /** Clock (epoch ms); injectable for tests. */
  now: () => number;
}
