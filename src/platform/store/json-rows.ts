// Many ids or rows in one statement travel as one JSON parameter, whatever their number. The planner
// cannot see how many a JSON parameter holds and assumes a hundred; against the runs table that made
// a hash join over every queued or running run, or a scan of the whole table, look cheaper than
// finding each id by its primary key, so a statement about three runs cost more with every run the
// table had ever held. Ids are matched with `= any(array(…))`, which the planner looks up in the
// column's index; rows get a LIMIT of their true count, which tells the planner how many there are.
// An UPDATE … FROM rows still needs the ids as `oneOf` beside the join: with the LIMIT alone the
// planner priced a scan of the whole runs table below 66 primary-key lookups at some 10,000 runs
// (and the cost of every batch of finishes grew with the table).
import { sql, type AnyColumn, type SQL } from "drizzle-orm";

/**
 * `column` is one of `ids`. As `= any(array(…))` the planner looks the ids up in the column's index
 * (an `in (select …)` was planned as a join with every row a status index matches, dead ones included).
 */
export function oneOf(column: AnyColumn, ids: readonly string[]): SQL {
  return sql`${column} = any(array(select jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb)))`;
}

/** The rows of `json` (an array of `count` objects) as a table with `columns` (`name type, …`). */
export function jsonRecords(json: string, count: number, columns: string): SQL {
  return sql`(select * from jsonb_to_recordset(${json}::jsonb) as r(${sql.raw(columns)}) limit ${sql.raw(String(count))})`;
}
