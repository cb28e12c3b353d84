// Rows read back in bulk travel as one JSON text value. A result set costs the driver per row and
// column to encode, send and decode: on the embedded store (PGlite) fifty rows of the runs table
// took ~1 ms more as rows than their count alone, while the same rows as one json_agg value cost one
// JSON.parse (~0.1 ms). The statements that run for every run (claims, finishes, long-poll reads,
// span inserts) read their rows through these. (A query builder is embedded as its SQL: as itself it
// would be parenthesised as a subquery, which a data-modifying statement in a WITH cannot be.)
import { Table, getTableColumns, is, sql, type Column, type SQL, type SQLWrapper } from "drizzle-orm";
import { rowsOf } from "./migrations.ts";

/** `statement`'s rows as one JSON array (text, in a column `rows`); decode with `jsonRowDecoder`. */
export function asJsonRows(statement: SQLWrapper): SQL {
  return sql`with w as (${statement.getSQL()}) select coalesce(json_agg(w), '[]')::text as rows from w`;
}

/**
 * The rows of `select` as one JSON array, like asJsonRows, for a select that follows data-modifying
 * WITH queries of its own statement (those must stay at the top level, not inside asJsonRows' WITH).
 */
export function jsonRowsOf(select: SQL): SQL {
  return sql`select coalesce(json_agg(w), '[]')::text as rows from (${select}) w`;
}

/** How many rows `statement` returned (a data-modifying statement's RETURNING), without sending them. */
export function countReturned(statement: SQLWrapper): SQL {
  return sql`with w as (${statement.getSQL()}) select count(*)::int as n from w`;
}

/** The count of a `countReturned` statement. */
export function countOf(res: unknown): number {
  return Number(rowsOf<{ n: number | string }>(res)[0]?.n ?? 0);
}

/**
 * Decodes the JSON rows of a table (column names as the store spells them) into the shape drizzle's
 * select gives (property names). JSON already carries every column type of the schema as its JS value:
 * text, booleans, integers, epoch-ms bigints (numbers far below 2^53) and jsonb (the value itself —
 * drizzle's own jsonb mapping would parse a JSON string value a second time, so it is not used).
 */
export function jsonRowDecoder<T>(table: Table | Record<string, Column>): (res: unknown) => T[] {
  const columns = is(table, Table) ? getTableColumns(table) : (table as Record<string, Column>);
  const names = Object.entries(columns).map(([key, column]) => [key, column.name] as const);
  return (res) => {
    const text = rowsOf<{ rows: string | unknown[] }>(res)[0]?.rows ?? "[]";
    const raw = (typeof text === "string" ? JSON.parse(text) : text) as Record<string, unknown>[];
    return raw.map((r) => {
      const row: Record<string, unknown> = {};
      for (const [key, name] of names) row[key] = r[name] ?? null;
      return row as T;
    });
  };
}
