import { and, asc, eq, gt, sql } from "drizzle-orm";
import type { RepoContext } from "./db.ts";
import { listLimit, STORE_DEFAULTS } from "./defaults.ts";
import { StoreError } from "./errors.ts";
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
   * Returns the seq range given to these lines, or null for an empty batch.
   */
  appendLogs(runId: string, lines: LogLineInput[]): Promise<{ firstSeq: number; lastSeq: number } | null>;
  /** In seq order; `afterSeq` for tailing (`--follow`). */
  getLogs(runId: string, opts?: { afterSeq?: number; limit?: number }): Promise<RunLogRow[]>;
}

export function createLogsRepo({ db, now }: RepoContext): LogsRepo {
  return {
    async appendLogs(runId, lines) {
      if (lines.length === 0) return null;
      for (const l of lines) {
        if (l.stream !== undefined && !LOG_STREAMS.includes(l.stream)) {
          throw new StoreError("BAD_INPUT", `unknown log stream ${JSON.stringify(l.stream)}`);
        }
      }
      const t = now();
      return db.transaction(async (tx) => {
        // Reserve a seq range by bumping the run's counter: the row lock orders concurrent appenders.
        const [reserved] = await tx
          .update(runs)
          .set({ logSeq: sql`${runs.logSeq} + ${lines.length}` })
          .where(eq(runs.id, runId))
          .returning({ last: runs.logSeq });
        if (!reserved) throw new StoreError("NOT_FOUND", `no run ${runId}`);
        const firstSeq = reserved.last - lines.length + 1;
        const rows = lines.map((l, i) => ({
          runId,
          seq: firstSeq + i,
          stream: l.stream ?? "stdout",
          // Postgres text cannot hold NUL.
          line: l.line.includes("\u0000") ? l.line.replaceAll("\u0000", "\uFFFD") : l.line,
          ts: l.ts ?? t,
        }));
        for (let i = 0; i < rows.length; i += STORE_DEFAULTS.insertBatch) {
          await tx.insert(runLogs).values(rows.slice(i, i + STORE_DEFAULTS.insertBatch));
        }
        return { firstSeq, lastSeq: reserved.last };
      });
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
