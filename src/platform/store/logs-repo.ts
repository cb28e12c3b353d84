import { and, asc, eq, gt, sql } from "drizzle-orm";
import type { RepoContext } from "./db.ts";
import { listLimit, STORE_DEFAULTS } from "./defaults.ts";
import { StoreError } from "./errors.ts";
import { rowsOf } from "./migrations.ts";
import { LOG_STREAMS, runLogs, runs, type LogStream, type RunLogRow } from "./schema.ts";
import { storableString } from "./storable-text.ts";

/** What a stored line costs beyond its text, counted against a run's log limit (so empty lines are not free). */
export const LOG_LINE_OVERHEAD_BYTES = 64;

export interface LogLineInput {
  line: string;
  /** Default "stdout". */
  stream?: LogStream;
  /** Epoch ms; default now. */
  ts?: number;
}

export interface LogsRepo {
  /**
   * Append lines in order; seq continues per run (1, 2, 3…) even with concurrent appenders.
   * Returns the seq range given to these lines, or null for an empty batch. With `heldBy` (a worker
   * id) only a run that worker holds (or held last) takes them: null when it does not.
   * A run keeps at most `maxBytes` of log lines (default {@link STORE_DEFAULTS.maxRunLogBytes}; each
   * line counts its UTF-8 bytes plus {@link LOG_LINE_OVERHEAD_BYTES}):
   * the lines that would cross it are dropped, and one system line says so, once. The range then
   * covers what was kept (null when nothing was).
   * With `firstLineNo`, the lines are numbered by the run's holder (a worker): this one, then one more
   * per line. The run keeps the highest number applied, and lines at or below it from the same holder
   * are skipped: a report sent again (its answer lost) adds nothing twice, while the lines of a new
   * holder, numbered afresh, go in. Lines without numbers are always appended.
   */
  appendLogs(runId: string, lines: LogLineInput[], opts?: { heldBy?: string; maxBytes?: number; firstLineNo?: number }): Promise<{ firstSeq: number; lastSeq: number } | null>;
  /** In seq order; `afterSeq` for tailing (`--follow`). */
  getLogs(runId: string, opts?: { afterSeq?: number; limit?: number }): Promise<RunLogRow[]>;
}

export function createLogsRepo({ db, now }: RepoContext): LogsRepo {
  return {
    async appendLogs(runId, lines, opts = {}) {
      if (lines.length === 0) return null;
      for (const l of lines) {
        if (l.stream !== undefined && !LOG_STREAMS.includes(l.stream)) {
          throw new StoreError("BAD_INPUT", `unknown log stream ${JSON.stringify(l.stream)}`);
        }
      }
      const first = opts.firstLineNo ?? null;
      if (first !== null && !(Number.isSafeInteger(first) && first >= 0)) throw new StoreError("BAD_INPUT", `firstLineNo must be a non-negative integer, got ${first}`);
      const lastLineNo = first === null ? null : first + lines.length - 1;
      const t = now();
      const max = opts.maxBytes ?? STORE_DEFAULTS.maxRunLogBytes;
      // Lines come from user code: what the store cannot keep is replaced.
      const rows = lines.map((l, i) => ({ i: i + 1, stream: l.stream ?? "stdout", line: storableString(l.line), ts: l.ts ?? t }));
      const limitNote = `[nbox] this run's log reached its limit of ${max} bytes: further output is dropped`;
      // One statement: the run's row, locked first, orders concurrent appenders; the lines its
      // holder numbered and this run took already are skipped (a prefix: numbers go up within a
      // batch); of the rest, those that fit under the run's limit go in (a prefix again), with one
      // note when this batch crosses it, and the run's counters move by what was written. A run that
      // reached its limit holds -1 bytes (a lower limit set later still gets its note), and its row
      // is not written again.
      const res = await db.execute(sql`
        with cur as materialized (
          select log_seq, log_bytes,
            case when log_mark_worker = worker_id then least(greatest(log_mark - ${first}::bigint + 1, 0), ${lines.length}::int)::int else 0 end as skip
          from ${runs}
          where id = ${runId} ${opts.heldBy === undefined ? sql`` : sql`and worker_id = ${opts.heldBy}`}
          for update
        ), lines as materialized (
          select x.i - cur.skip as i, x.stream, x.line, x.ts, sum(octet_length(x.line) + ${LOG_LINE_OVERHEAD_BYTES}) over (order by x.i) as upto
          from cur, jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(i int, stream text, line text, ts bigint)
          where x.i > cur.skip
        ), tally as materialized (
          select cur.log_seq as seq0,
            count(l.i) filter (where cur.log_bytes >= 0 and cur.log_bytes + l.upto <= ${max})::int as kept,
            coalesce(max(l.upto) filter (where cur.log_bytes >= 0 and cur.log_bytes + l.upto <= ${max}), 0)::bigint as kept_bytes,
            coalesce(cur.log_bytes >= 0 and bool_or(cur.log_bytes + l.upto > ${max}), false) as crossing
          from cur left join lines l on true group by cur.log_seq, cur.log_bytes
        ), reserved as (
          update ${runs} set
            log_seq = log_seq + tally.kept + (case when tally.crossing then 1 else 0 end),
            log_bytes = case when tally.crossing then -1 else log_bytes + tally.kept_bytes end,
            log_mark = coalesce(${lastLineNo}::bigint, log_mark),
            log_mark_worker = case when ${lastLineNo}::bigint is null then log_mark_worker else worker_id end
          from tally where ${runs.id} = ${runId} and (tally.kept > 0 or tally.crossing)
          returning ${runs.logSeq} as last
        ), written as (
          insert into ${runLogs} (run_id, seq, stream, line, ts)
          select ${runId}, tally.seq0 + l.i, l.stream, l.line, l.ts from lines l, tally where l.i <= tally.kept
          union all
          select ${runId}, tally.seq0 + tally.kept + 1, 'system', ${limitNote}, ${t}::bigint from tally where tally.crossing
        )
        select (select last from reserved) as last, kept, crossing from tally`);
      const [reserved] = rowsOf<{ last: number | null; kept: number; crossing: boolean }>(res);
      if (!reserved) {
        if (opts.heldBy !== undefined) return null;
        throw new StoreError("NOT_FOUND", `no run ${runId}`);
      }
      const written = reserved.kept + (reserved.crossing ? 1 : 0);
      if (written === 0 || reserved.last === null) return null;
      const last = Number(reserved.last);
      return { firstSeq: last - written + 1, lastSeq: last };
    },

    async getLogs(runId, opts = {}) {
      return db
        .select()
        .from(runLogs)
        .where(and(eq(runLogs.runId, runId), opts.afterSeq === undefined ? undefined : gt(runLogs.seq, opts.afterSeq)))
        .orderBy(asc(runLogs.seq))
        .limit(listLimit(opts.limit, STORE_DEFAULTS.logsLimit));
    },
  };
}
