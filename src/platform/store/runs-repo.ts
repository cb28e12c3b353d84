import { and, asc, count, desc, eq, inArray, isNull, lt, lte, notInArray, or, sql, type SQL } from "drizzle-orm";
import type { RepoContext } from "./db.ts";
import { rowsOf } from "./migrations.ts";
import { listLimit, STORE_DEFAULTS } from "./defaults.ts";
import { StoreError } from "./errors.ts";
import { newId, newTraceId } from "./ids.ts";
import {
  RUN_STATUSES,
  runs,
  TERMINAL_RUN_STATUSES,
  type RunRow,
  type RunStatus,
  type StoredError,
  type TerminalRunStatus,
} from "./schema.ts";

export interface CreateRunInput {
  workspaceId: string;
  deploymentId: string;
  versionId: string;
  /** Codec wire value of the argument list. */
  args: unknown;
  maxRetries?: number;
  timeoutMs?: number | null;
  retryBackoffMs?: number;
  /** A fresh trace id when absent (the run is then the root of its trace). */
  traceId?: string;
  parentSpanId?: string | null;
  traceparent?: string | null;
  /** Not before this time (epoch ms). */
  scheduledFor?: number | null;
  scheduleId?: string | null;
}

export interface ClaimFilter {
  /** Only runs of these deployments (e.g. the ones a warm worker already has loaded). */
  deploymentIds?: string[];
  /** Never runs of these deployments (e.g. the ones at their concurrency limit). */
  excludeDeploymentIds?: string[];
}

export interface FinishRunInput {
  /** When the attempt really started, if later than the claim (a worker claims a few runs ahead). */
  startedAt?: number;
  /** When it really ended, if earlier than the write (outcomes are stored in batches). */
  finishedAt?: number;
  status: TerminalRunStatus;
  result?: unknown;
  error?: StoredError | null;
  /** Apply only if this worker still holds the run (guards against a worker that was presumed dead). */
  workerId?: string;
}

export interface RequeueInput {
  /** The next attempt's number; default: current + 1. */
  attempt?: number;
  /** Not before (epoch ms); null = immediately. */
  scheduledFor: number | null;
  /** Why the last attempt failed (kept on the run until it finishes). */
  error: StoredError | null;
  workerId?: string;
}

export interface ListRunsInput {
  workspaceId?: string;
  deploymentId?: string;
  status?: RunStatus | RunStatus[];
  /** Default STORE_DEFAULTS.listLimit, at most maxListLimit. */
  limit?: number;
  /** Cursor: only runs older than this run id (ids sort by creation). */
  before?: string;
}

export interface RecoverOptions {
  /** Only runs held by these (dead) workers; default: every running run (platform startup, embedded mode). */
  workerIds?: string[];
  /** Only runs started before this time (epoch ms). */
  startedBefore?: number;
}

export interface RecoverResult {
  requeued: string[];
  failed: string[];
  cancelled: string[];
}

export interface RunsRepo {
  createRun(input: CreateRunInput): Promise<RunRow>;
  /** Many runs in few statements (fan-out); same order as `inputs`. */
  createRuns(inputs: CreateRunInput[]): Promise<RunRow[]>;
  /** Claim up to `limit` queued runs at once, oldest first (same rules as claimNextRun). */
  claimNextRuns(workerId: string, limit: number, filter?: ClaimFilter): Promise<RunRow[]>;
  /** finishRun for many runs in one statement; returns the ids it applied to. */
  finishRuns(items: Array<FinishRunInput & { id: string }>): Promise<string[]>;
  /** Runs by id (missing ids are left out); only finished ones with `terminalOnly`. */
  getRuns(ids: string[], opts?: { terminalOnly?: boolean }): Promise<RunRow[]>;
  /**
   * Atomically move the oldest eligible queued run (scheduled_for null or past) to `running`,
   * held by `workerId`. Oldest = smallest coalesce(scheduled_for, created_at), then id.
   * Safe with many concurrent claimers (FOR UPDATE SKIP LOCKED).
   */
  claimNextRun(workerId: string, filter?: ClaimFilter): Promise<RunRow | null>;
  /** Claim one specific queued run (e.g. delivered by BullMQ). null if it is not queued any more. */
  claimRun(id: string, workerId: string): Promise<RunRow | null>;
  /** Move a queued/running run to a terminal status. false if it was already terminal (or held by another worker). */
  finishRun(id: string, input: FinishRunInput): Promise<boolean>;
  /** running → queued for another attempt. false if not running, or cancel was requested (finish it as cancelled instead). */
  requeueForRetry(id: string, input: RequeueInput): Promise<boolean>;
  /** queued → cancelled at once; running → cancel_requested = true (the executor kills it and finishes it). null if unknown. */
  requestCancel(id: string): Promise<RunRow | null>;
  getRun(id: string): Promise<RunRow | null>;
  /** Newest first. */
  listRuns(input?: ListRunsInput): Promise<RunRow[]>;
  countRunsByStatus(filter?: { workspaceId?: string; deploymentId?: string }): Promise<Record<RunStatus, number>>;
  /** Runs left `running` by a dead platform/worker: requeued if retries remain, else failed; cancel-requested ones cancelled. */
  recoverStaleRuns(opts?: RecoverOptions): Promise<RecoverResult>;
}

function nonNegativeInt(what: string, n: number): number {
  if (!Number.isInteger(n) || n < 0) throw new StoreError("BAD_INPUT", `${what} must be a non-negative integer, got ${n}`);
  return n;
}

function runValues(input: CreateRunInput, t: number) {
  return {
    id: newId("run", t),
    workspaceId: input.workspaceId,
    deploymentId: input.deploymentId,
    versionId: input.versionId,
    status: "queued" as const,
    args: input.args ?? null,
    result: null,
    error: null,
    attempt: 1,
    maxRetries: nonNegativeInt("maxRetries", input.maxRetries ?? STORE_DEFAULTS.maxRetries),
    timeoutMs: input.timeoutMs ?? STORE_DEFAULTS.timeoutMs,
    retryBackoffMs: nonNegativeInt("retryBackoffMs", input.retryBackoffMs ?? STORE_DEFAULTS.retryBackoffMs),
    traceId: input.traceId ?? newTraceId(),
    parentSpanId: input.parentSpanId ?? null,
    traceparent: input.traceparent ?? null,
    scheduledFor: input.scheduledFor ?? null,
    scheduleId: input.scheduleId ?? null,
    createdAt: t,
    startedAt: null,
    finishedAt: null,
    workerId: null,
    cancelRequested: false,
    logSeq: 0,
  };
}

export function createRunsRepo({ db, now }: RepoContext): RunsRepo {
  const claimSet = (workerId: string, t: number) => ({ status: "running" as const, workerId, startedAt: t });

  function staleWhere(opts: RecoverOptions): SQL {
    return and(
      eq(runs.status, "running"),
      opts.workerIds === undefined ? undefined : inArray(runs.workerId, opts.workerIds),
      opts.startedBefore === undefined ? undefined : lt(runs.startedAt, opts.startedBefore),
    )!;
  }

  // "run_… was left running by worker w1 …": built in SQL so one UPDATE handles every row.
  const staleMessage = (tail: string) =>
    sql`'run ' || ${runs.id} || ' was left running (worker ' || coalesce(${runs.workerId}, '?') || ', attempt ' || ${runs.attempt} || ' of ' || (${runs.maxRetries} + 1) || ') when its worker or the platform stopped; ' || ${tail}::text`;
  const staleError = (tail: string) =>
    sql`jsonb_build_object('name', 'StaleRunError', 'message', ${staleMessage(tail)})`;

  const claimNextRuns: RunsRepo["claimNextRuns"] = async (workerId, limit, filter) => {
    if (limit <= 0 || (filter?.deploymentIds !== undefined && filter.deploymentIds.length === 0)) return [];
    const t = now();
    const next = db
      .select({ id: runs.id })
      .from(runs)
      .where(
        and(
          eq(runs.status, "queued"),
          or(isNull(runs.scheduledFor), lte(runs.scheduledFor, t)),
          filter?.deploymentIds === undefined ? undefined : inArray(runs.deploymentId, filter.deploymentIds),
          filter?.excludeDeploymentIds?.length ? notInArray(runs.deploymentId, filter.excludeDeploymentIds) : undefined,
        ),
      )
      .orderBy(sql`coalesce(${runs.scheduledFor}, ${runs.createdAt})`, asc(runs.id))
      .limit(limit)
      .for("update", { skipLocked: true });
    // One statement: `= any(array(subquery))` evaluates the locking subquery once (an InitPlan),
    // unlike `in (subquery)`, which may re-run it per row and claim more than `limit`.
    const claimed = await db
      .update(runs)
      .set(claimSet(workerId, t))
      .where(and(sql`${runs.id} = any(array(${next}))`, eq(runs.status, "queued")))
      .returning();
    // Keep queue order (UPDATE … RETURNING does not promise one).
    return claimed.sort((a, b) => Number(a.scheduledFor ?? a.createdAt) - Number(b.scheduledFor ?? b.createdAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  };

  const finishRuns: RunsRepo["finishRuns"] = async (items) => {
    if (items.length === 0) return [];
    for (const it of items) {
      if (!TERMINAL_RUN_STATUSES.includes(it.status)) {
        throw new StoreError("BAD_INPUT", `finishRuns needs terminal statuses (${TERMINAL_RUN_STATUSES.join(", ")}), got ${it.status}`);
      }
    }
    const t = now();
    const applied: string[] = [];
    for (let i = 0; i < items.length; i += STORE_DEFAULTS.insertBatch) {
      const chunk = items.slice(i, i + STORE_DEFAULTS.insertBatch);
      // One UPDATE … FROM (VALUES …) for the whole batch; each row keeps finishRun's guards.
      const values = sql.join(
        chunk.map((it) => sql`(${it.id}, ${it.status}, ${JSON.stringify(it.result ?? null)}::jsonb, ${JSON.stringify(it.error ?? null)}::jsonb, ${it.workerId ?? null}::text, ${it.startedAt ?? null}::bigint, ${it.finishedAt ?? null}::bigint)`),
        sql`, `,
      );
      const res = await db.execute(sql`
        update ${runs} set status = v.status, result = v.result, error = v.error, finished_at = coalesce(v.finished, ${t}),
          started_at = coalesce(v.started, ${runs.startedAt})
        from (values ${values}) as v(id, status, result, error, worker, started, finished)
        where ${runs.id} = v.id and ${runs.status} in ('queued', 'running') and (v.worker is null or ${runs.workerId} = v.worker)
        returning ${runs.id} as id`);
      applied.push(...rowsOf<{ id: string }>(res).map((r) => r.id));
    }
    return applied;
  };

  return {
    async createRun(input) {
      const [row] = await db.insert(runs).values(runValues(input, now())).returning();
      return row!;
    },

    async createRuns(inputs) {
      const t = now();
      const out: RunRow[] = [];
      for (let i = 0; i < inputs.length; i += STORE_DEFAULTS.insertBatch) {
        const rows = inputs.slice(i, i + STORE_DEFAULTS.insertBatch).map((x) => runValues(x, t));
        // One statement per chunk with the rows as a single JSON parameter (far cheaper than
        // 23 parameters per row); the rows are fully built here, so they are returned as they are.
        const json = rows.map((r) => ({
          id: r.id, workspace_id: r.workspaceId, deployment_id: r.deploymentId, version_id: r.versionId, status: r.status,
          args: r.args, attempt: r.attempt, max_retries: r.maxRetries, timeout_ms: r.timeoutMs, retry_backoff_ms: r.retryBackoffMs,
          trace_id: r.traceId, parent_span_id: r.parentSpanId, traceparent: r.traceparent, scheduled_for: r.scheduledFor,
          schedule_id: r.scheduleId, created_at: r.createdAt,
        }));
        await db.execute(sql`
          insert into ${runs} (id, workspace_id, deployment_id, version_id, status, args, result, error, attempt, max_retries, timeout_ms,
            retry_backoff_ms, trace_id, parent_span_id, traceparent, scheduled_for, schedule_id, created_at, started_at, finished_at,
            worker_id, cancel_requested, log_seq)
          select id, workspace_id, deployment_id, version_id, status, args, null, null, attempt, max_retries, timeout_ms,
            retry_backoff_ms, trace_id, parent_span_id, traceparent, scheduled_for, schedule_id, created_at, null, null, null, false, 0
          from jsonb_to_recordset(${JSON.stringify(json)}::jsonb) as x(id text, workspace_id text, deployment_id text, version_id text,
            status text, args jsonb, attempt int, max_retries int, timeout_ms int, retry_backoff_ms int, trace_id text,
            parent_span_id text, traceparent text, scheduled_for bigint, schedule_id text, created_at bigint)`);
        out.push(...(rows as RunRow[]));
      }
      return out;
    },

    claimNextRuns,
    finishRuns,

    async claimNextRun(workerId, filter) {
      return (await claimNextRuns(workerId, 1, filter))[0] ?? null;
    },

    async getRuns(ids, opts = {}) {
      if (ids.length === 0) return [];
      return db
        .select()
        .from(runs)
        // The ids travel as one JSON parameter: a long-poll over thousands of runs stays one cheap statement.
        .where(
          and(
            sql`${runs.id} in (select jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb))`,
            opts.terminalOnly ? inArray(runs.status, [...TERMINAL_RUN_STATUSES]) : undefined,
          ),
        );
    },

    async claimRun(id, workerId) {
      const [row] = await db
        .update(runs)
        .set(claimSet(workerId, now()))
        .where(and(eq(runs.id, id), eq(runs.status, "queued")))
        .returning();
      return row ?? null;
    },

    async finishRun(id, input) {
      return (await finishRuns([{ id, ...input }])).length > 0;
    },

    async requeueForRetry(id, input) {
      const rows = await db
        .update(runs)
        .set({
          status: "queued",
          attempt: input.attempt ?? sql`${runs.attempt} + 1`,
          scheduledFor: input.scheduledFor,
          error: input.error,
          workerId: null,
          startedAt: null,
        })
        .where(
          and(
            eq(runs.id, id),
            eq(runs.status, "running"),
            eq(runs.cancelRequested, false),
            input.workerId === undefined ? undefined : eq(runs.workerId, input.workerId),
          ),
        )
        .returning({ id: runs.id });
      return rows.length > 0;
    },

    async requestCancel(id) {
      const t = now();
      const [queued] = await db
        .update(runs)
        .set({
          status: "cancelled",
          cancelRequested: true,
          finishedAt: t,
          error: { name: "CancelledError", message: `run ${id} was cancelled before it started` },
        })
        .where(and(eq(runs.id, id), eq(runs.status, "queued")))
        .returning();
      if (queued) return queued;
      const [running] = await db
        .update(runs)
        .set({ cancelRequested: true })
        .where(and(eq(runs.id, id), eq(runs.status, "running")))
        .returning();
      if (running) return running;
      return (await db.select().from(runs).where(eq(runs.id, id)))[0] ?? null;
    },

    async getRun(id) {
      return (await db.select().from(runs).where(eq(runs.id, id)))[0] ?? null;
    },

    async listRuns(input = {}) {
      const statuses = input.status === undefined ? undefined : Array.isArray(input.status) ? input.status : [input.status];
      return db
        .select()
        .from(runs)
        .where(
          and(
            input.workspaceId === undefined ? undefined : eq(runs.workspaceId, input.workspaceId),
            input.deploymentId === undefined ? undefined : eq(runs.deploymentId, input.deploymentId),
            statuses === undefined ? undefined : inArray(runs.status, statuses),
            input.before === undefined ? undefined : lt(runs.id, input.before),
          ),
        )
        .orderBy(desc(runs.id))
        .limit(listLimit(input.limit));
    },

    async countRunsByStatus(filter = {}) {
      const rows = await db
        .select({ status: runs.status, n: count() })
        .from(runs)
        .where(
          and(
            filter.workspaceId === undefined ? undefined : eq(runs.workspaceId, filter.workspaceId),
            filter.deploymentId === undefined ? undefined : eq(runs.deploymentId, filter.deploymentId),
          ),
        )
        .groupBy(runs.status);
      const out = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<RunStatus, number>;
      for (const r of rows) out[r.status] = Number(r.n);
      return out;
    },

    async recoverStaleRuns(opts = {}) {
      const t = now();
      return db.transaction(async (tx) => {
        const cancelled = await tx
          .update(runs)
          .set({ status: "cancelled", finishedAt: t, error: staleError("it had been asked to cancel") })
          .where(and(staleWhere(opts), eq(runs.cancelRequested, true)))
          .returning({ id: runs.id });
        const requeued = await tx
          .update(runs)
          .set({
            status: "queued",
            error: staleError("requeued for another attempt"),
            attempt: sql`${runs.attempt} + 1`,
            workerId: null,
            startedAt: null,
            scheduledFor: null,
          })
          .where(and(staleWhere(opts), sql`${runs.attempt} <= ${runs.maxRetries}`))
          .returning({ id: runs.id });
        const failed = await tx
          .update(runs)
          .set({ status: "failed", finishedAt: t, error: staleError("no retries left") })
          .where(staleWhere(opts))
          .returning({ id: runs.id });
        const ids = (rows: { id: string }[]) => rows.map((r) => r.id).sort();
        return { requeued: ids(requeued), failed: ids(failed), cancelled: ids(cancelled) };
      });
    },
  };
}
