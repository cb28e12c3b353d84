// A run's state is its row of `runs` and, while a worker holds it, its row of `run_holds`
// (schema.ts): the hold has its holder, lease and start. Every read of runs puts the two together
// here, so callers see one row: a held run reads as `running`, with the holder, lease and start of
// its hold.
import { getTableColumns, sql, type SQL } from "drizzle-orm";
import { runHolds, runs, type RunStatus } from "./schema.ts";

/** A run's columns as reads and writes hand them back: without the spans its row keeps (spans-repo.ts reads those). */
export const { spans: _keptSpans, ...RUN_COLUMNS } = getTableColumns(runs);

/** The fields a hold decides while the run has one (`r`: the runs row, `h`: its hold or nulls). */
const FROM_HOLD: Record<string, (r: SQL, h: SQL) => SQL> = {
  status: (r, h) => sql`case when ${h}.run_id is not null then 'running' else ${r}.status end`,
  workerId: (r, h) => sql`coalesce(${h}.worker_id, ${r}.worker_id)`,
  leaseExpiresAt: (r, h) => sql`coalesce(${h}.lease_expires_at, ${r}.lease_expires_at)`,
  startedAt: (r, h) => sql`coalesce(${h}.started_at, ${r}.started_at)`,
};

/**
 * The select list of runs as they are now, from a runs row named `r` and its hold named `h` (a left
 * join's nulls when it has none; null: the run is not held), each column under the runs column's name.
 */
export function runNowColumns(r: SQL = sql`runs`, h: SQL | null = sql`run_holds`): SQL {
  const parts = Object.entries(RUN_COLUMNS).map(([key, column]) => {
    const held = h === null ? undefined : FROM_HOLD[key]?.(r, h);
    return sql`${held ?? sql`${r}.${sql.identifier(column.name)}`} as ${sql.identifier(column.name)}`;
  });
  return sql.join(parts, sql`, `);
}

/** Runs with their holds, named `runs` and `run_holds`. */
export const RUNS_NOW = sql`${runs} left join ${runHolds} on ${runHolds.runId} = ${runs.id}`;

/** The status a run reads as now (over RUNS_NOW). */
export const STATUS_NOW = FROM_HOLD.status!(sql`runs`, sql`run_holds`);

/**
 * Runs (over RUNS_NOW) whose status now is one of `statuses`. Asked only for running ones, the runs
 * are found through their holds (the planner turns the left join into a join).
 */
export function statusNowIn(statuses: readonly RunStatus[]): SQL {
  const each = statuses.map((s) =>
    s === "running"
      ? sql`run_holds.run_id is not null`
      : s === "queued"
        ? sql`(runs.status = 'queued' and run_holds.run_id is null)`
        : sql`runs.status = ${s}`,
  );
  const any = each.length === 0 ? sql`false` : sql`(${sql.join(each, sql` or `)})`;
  return statuses.every((s) => s === "running") && statuses.length > 0 ? sql`run_holds.run_id is not null and ${any}` : any;
}
