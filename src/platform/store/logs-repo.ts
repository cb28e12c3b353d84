import { and, asc, eq, gt, sql } from "drizzle-orm";
import type { RepoContext } from "./db.ts";
import { listLimit, STORE_DEFAULTS } from "./defaults.ts";
import { StoreError } from "./errors.ts";
import { rowsOf } from "./migrations.ts";
import { LOG_STREAMS, runLogs, runs, type LogStream, type RunLogRow } from "./schema.ts";

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
   */
  appendLogs(runId: string, lines: LogLineInput[], opts?: { heldBy?: string }): Promise<{ firstSeq: number; lastSeq: number } | null>;
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
      const t = now();
      const n = lines.length;
      // Postgres text cannot hold NUL.
      const rows = lines.map((l, i) => ({ i: i + 1, stream: l.stream ?? "stdout", line: l.line.includes("\u0000") ? l.line.replaceAll("\u0000", "\uFFFD") : l.line, ts: l.ts ?? t }));
      // One statement: bumping the run's counter reserves the seq range (its row lock orders
      // concurrent appenders) and the lines go in with it, as one JSON parameter.
      const res = await db.execute(sql`
        with reserved as (
          update ${runs} set log_seq = log_seq + ${n}
          where id = ${runId} ${opts.heldBy === undefined ? sql`` : sql`and worker_id = ${opts.heldBy}`}
          returning log_seq
        ), written as (
          insert into ${runLogs} (run_id, seq, stream, line, ts)
          select ${runId}, reserved.log_seq - ${n} + x.i, x.stream, x.line, x.ts
          from reserved, jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(i int, stream text, line text, ts bigint)
        )
        select log_seq as last from reserved`);
      const [reserved] = rowsOf<{ last: number }>(res);
      if (!reserved) {
        if (opts.heldBy !== undefined) return null;
        throw new StoreError("NOT_FOUND", `no run ${runId}`);
      }
      const last = Number(reserved.last);
      return { firstSeq: last - n + 1, lastSeq: last };
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
