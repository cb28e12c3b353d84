// A run's state is its row of `runs` and, until it ends, its row of `run_queue` (schema.ts): the
// queue row holds its place and, once claimed, its holder, lease and start. Every read of runs puts
// the two together here, so callers see one row: held (a queue row with a holder) reads as
// `running`, with the holder, lease and start of its queue row.
import { getTableColumns, sql, type SQL } from "drizzle-orm";
import { runQueue, runs, type RunStatus } from "./schema.ts";

/** A run's columns as reads and writes hand them back: without the spans its row keeps (spans-repo.ts reads those). */
export const { spans: _keptSpans, ...RUN_COLUMNS } = getTableColumns(runs);

/** The fields a queue row decides while the run has one (`r`: the runs row, `q`: its queue row or nulls). */
const FROM_QUEUE: Record<string, (r: SQL, q: SQL) => SQL> = {
  status: (r, q) => sql`case when ${q}.worker_id is not null then 'running' else ${r}.status end`,
  workerId: (r, q) => sql`coalesce(${q}.worker_id, ${r}.worker_id)`,
  leaseExpiresAt: (r, q) => sql`coalesce(${q}.lease_expires_at, ${r}.lease_expires_at)`,
  startedAt: (r, q) => sql`coalesce(${q}.started_at, ${r}.started_at)`,
};

/**
 * The select list of runs as they are now, from a runs row named `r` and its queue row named `q`
 * (a left join's nulls when it has none), each column under the runs column's own name.
 */
export function runNowColumns(r: SQL = sql`runs`, q: SQL = sql`run_queue`, opts: { args?: boolean } = {}): SQL {
  const parts = Object.entries(RUN_COLUMNS)
    .filter(([key]) => opts.args !== false || key !== "args")
    .map(([key, column]) => sql`${FROM_QUEUE[key]?.(r, q) ?? sql`${r}.${sql.identifier(column.name)}`} as ${sql.identifier(column.name)}`);
  return sql.join(parts, sql`, `);
}

/** Runs with their queue rows, named `runs` and `run_queue`. */
export const RUNS_NOW = sql`${runs} left join ${runQueue} on ${runQueue.runId} = ${runs.id}`;

/** The status a run reads as now (over RUNS_NOW). */
export const STATUS_NOW = FROM_QUEUE.status!(sql`runs`, sql`run_queue`);

/**
 * Runs (over RUNS_NOW) whose status now is one of `statuses`. Asked only for queued or running ones,
 * the runs are found through their queue rows (the planner turns the left join into a join).
 */
export function statusNowIn(statuses: readonly RunStatus[]): SQL {
  const each = statuses.map((s) =>
    s === "running"
      ? sql`run_queue.worker_id is not null`
      : s === "queued"
        ? sql`(run_queue.run_id is not null and run_queue.worker_id is null)`
        : sql`runs.status = ${s}`,
  );
  const active = statuses.every((s) => s === "queued" || s === "running");
  const any = each.length === 0 ? sql`false` : sql`(${sql.join(each, sql` or `)})`;
  return active ? sql`run_queue.run_id is not null and ${any}` : any;
}
