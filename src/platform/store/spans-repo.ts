import { and, asc, eq, isNotNull, sql } from "drizzle-orm";
import type { RepoContext } from "./db.ts";
import { listLimit, STORE_DEFAULTS } from "./defaults.ts";
import { mayBeUnstorable, storable } from "./storable-text.ts";
import { StoreError } from "./errors.ts";
import { countOf, countReturned } from "./json-result.ts";
import type { Span } from "../../trace/span.ts";
import { runs, spans, type SpanRow, type SpanStatus, type StoredError } from "./schema.ts";

/** A finished span (the tracer's `Span`) plus what it belongs to. */
export type SpanInput = Omit<Span, "status" | "error" | "attributes"> & {
  status: SpanStatus;
  error?: StoredError | null;
  attributes?: Record<string, unknown>;
  runId?: string | null;
  servingId?: string | null;
};

export interface SpanQuery {
  runId?: string;
  traceId?: string;
  servingId?: string;
  /** Default STORE_DEFAULTS.maxListLimit. */
  limit?: number;
}

/** A span as a row of `spans`, which is also the shape a run's row keeps (runs.spans). */
export function spanRow(s: SpanInput, runId: string | null = s.runId ?? null): SpanRow {
  return {
    spanId: s.spanId,
    traceId: s.traceId,
    parentSpanId: s.parentSpanId ?? null,
    runId,
    servingId: s.servingId ?? null,
    op: s.op,
    name: s.name,
    start: s.start,
    end: s.end,
    status: s.status,
    error: s.error ?? null,
    attributes: s.attributes ?? {},
  };
}

const byStart = (a: SpanRow, b: SpanRow) => a.start - b.start || (a.spanId < b.spanId ? -1 : a.spanId > b.spanId ? 1 : 0);

export interface SpansRepo {
  /** Batched; a span id already stored is ignored (senders may retry). Returns how many were new. */
  insertSpans(spans: SpanInput[]): Promise<number>;
  /**
   * Ordered by start time. At least one of runId / traceId / servingId. Includes the spans kept in
   * runs' rows (those that came with a finish): by run at no extra cost, by trace by looking through
   * the runs (no index on a run's trace: no route asks by trace).
   */
  getSpans(query: SpanQuery): Promise<SpanRow[]>;
}

export function createSpansRepo({ db }: RepoContext): SpansRepo {
  return {
    async insertSpans(input) {
      let inserted = 0;
      for (let i = 0; i < input.length; i += STORE_DEFAULTS.insertBatch) {
        let rows = input.slice(i, i + STORE_DEFAULTS.insertBatch).map((s) => spanRow(s));
        // The whole batch travels as one JSON parameter: several times cheaper per span than a
        // VALUES list with twelve parameters per row (spans are the most frequent write).
        let param = JSON.stringify(rows);
        if (mayBeUnstorable(param)) param = JSON.stringify((rows = storable(rows)));
        const res = await db.execute(countReturned(sql`
          insert into ${spans} (span_id, trace_id, parent_span_id, run_id, serving_id, op, name, start, "end", status, error, attributes)
          select "spanId", "traceId", "parentSpanId", "runId", "servingId", op, name, start, "end", status, error, attributes
          from jsonb_to_recordset(${param}::jsonb) as x("spanId" text, "traceId" text, "parentSpanId" text, "runId" text,
            "servingId" text, op text, name text, start double precision, "end" double precision, status text, error jsonb, attributes jsonb)
          on conflict (span_id) do nothing
          returning 1`));
        inserted += countOf(res);
      }
      return inserted;
    },

    async getSpans(q) {
      if (q.runId === undefined && q.traceId === undefined && q.servingId === undefined) {
        throw new StoreError("BAD_INPUT", "getSpans needs runId, traceId or servingId");
      }
      const limit = listLimit(q.limit, STORE_DEFAULTS.maxListLimit);
      const rows = await db
        .select()
        .from(spans)
        .where(
          and(
            q.runId === undefined ? undefined : eq(spans.runId, q.runId),
            q.traceId === undefined ? undefined : eq(spans.traceId, q.traceId),
            q.servingId === undefined ? undefined : eq(spans.servingId, q.servingId),
          ),
        )
        .orderBy(asc(spans.start), asc(spans.spanId))
        .limit(limit);
      // A serving's spans are never kept in a run's row.
      if (q.servingId !== undefined) return rows;
      const kept = await db
        .select({ spans: runs.spans })
        .from(runs)
        .where(and(q.runId === undefined ? undefined : eq(runs.id, q.runId), q.traceId === undefined ? undefined : eq(runs.traceId, q.traceId), isNotNull(runs.spans)));
      // A report sent again after its finish was applied brings the same spans as rows: one of each.
      const seen = new Set(rows.map((r) => r.spanId));
      const more: SpanRow[] = [];
      for (const s of kept.flatMap((r) => r.spans ?? [])) {
        if (seen.has(s.spanId) || (q.traceId !== undefined && s.traceId !== q.traceId)) continue;
        seen.add(s.spanId);
        more.push(s);
      }
      return more.length ? [...rows, ...more].sort(byStart).slice(0, limit) : rows;
    },
  };
}
