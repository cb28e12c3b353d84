// What a retention window removes from the store: finished runs (their logs go by cascade, their
// span rows with them), events, and the spans of serving requests, older than a cut-off. Each call
// deletes one bounded batch, so every statement stays short and other work (PGlite has one
// connection) gets in between; rows another control plane is deleting at the same time are
// skipped. Ids sort by creation time (ids.ts), so the oldest rows are found by walking primary
// keys from their start, never by scanning a table.
import { sql } from "drizzle-orm";
import type { RepoContext } from "./db.ts";
import { rowsOf } from "./migrations.ts";
import { ID_PREFIXES } from "./ids.ts";
import { TERMINAL_RUN_STATUSES } from "./schema.ts";

export interface RetentionRepo {
  /** Delete up to `limit` runs that ended before `before` (epoch ms), with their logs and spans; how many went. */
  deleteRunsEndedBefore(before: number, limit: number): Promise<number>;
  /** Delete up to `limit` events older than `before`; how many went. */
  deleteEventsBefore(before: number, limit: number): Promise<number>;
  /** Delete up to `limit` spans of serving requests (of any serving) that ended before `before`; how many went. */
  deleteServingSpansBefore(before: number, limit: number): Promise<number>;
}

/** Every id made before `t` sorts below this (its time part is `t`, and nothing follows it). */
const idsBefore = (prefix: string, t: number) => `${prefix}_${Math.max(0, Math.floor(t)).toString(16).padStart(12, "0")}`;

const count = (res: unknown) => Number(rowsOf<{ n: number }>(res)[0]?.n ?? 0);

export function createRetentionRepo({ db }: RepoContext): RetentionRepo {
  const ended = sql.join(
    TERMINAL_RUN_STATUSES.map((s) => sql`${s}`),
    sql`, `,
  );
  return {
    async deleteRunsEndedBefore(before, limit) {
      // A run created before the cut-off may still be queued or running: only ended ones go.
      const res = await db.execute(sql`
        with gone as (
          delete from runs where id in (
            select id from runs
            where id < ${idsBefore(ID_PREFIXES.run, before)} and status in (${ended}) and finished_at < ${before}
            order by id limit ${limit} for update skip locked
          ) returning id
        ), spans_gone as (
          delete from spans where run_id in (select id from gone)
        )
        select count(*)::int as n from gone`);
      return count(res);
    },

    async deleteEventsBefore(before, limit) {
      const res = await db.execute(sql`
        with gone as (
          delete from events where id in (
            select id from events where id < ${idsBefore(ID_PREFIXES.event, before)} order by id limit ${limit} for update skip locked
          ) returning 1
        )
        select count(*)::int as n from gone`);
      return count(res);
    },

    async deleteServingSpansBefore(before, limit) {
      // Serving spans are indexed by (serving, start): the servings that have any are listed by
      // skipping through that index, then each one's oldest spans are a range of it.
      const servings = rowsOf<{ serving_id: string }>(
        await db.execute(sql`
          with recursive s as (
            (select serving_id from spans where serving_id is not null order by serving_id limit 1)
            union all
            select (select serving_id from spans where serving_id > s.serving_id order by serving_id limit 1) from s where s.serving_id is not null
          )
          select serving_id from s where serving_id is not null`),
      );
      let n = 0;
      for (const { serving_id } of servings) {
        if (n >= limit) break;
        const res = await db.execute(sql`
          with gone as (
            delete from spans where span_id in (
              select span_id from spans where serving_id = ${serving_id} and "start" < ${before} and "end" < ${before}
              order by serving_id, "start" limit ${limit - n} for update skip locked
            ) returning 1
          )
          select count(*)::int as n from gone`);
        n += count(res);
      }
      return n;
    },
  };
}
