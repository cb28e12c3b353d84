import { sql, type SQL } from "drizzle-orm";
import { runs } from "./schema.ts";

/**
 * `runs.status = '<status>'` with the status written into the SQL text, not bound as a parameter:
 * the partial indexes on queued and running runs can then serve a prepared statement's generic
 * plan too (a plan made for an unknown `$1` cannot prove `status = 'queued'`, so it would scan).
 */
export function runStatusIs(status: "queued" | "running"): SQL {
  return sql`${runs.status} = ${sql.raw(status === "queued" ? "'queued'" : "'running'")}`;
}
