import { and, getTableColumns, asc, count, desc, eq, inArray, isNull, lt, lte, notInArray, or, sql } from "drizzle-orm";
import type { RepoContext } from "./db.ts";
import { rowsOf } from "./migrations.ts";
import { runStatusIs } from "./run-status-is.ts";
import { asJsonRows, jsonRowDecoder } from "./json-result.ts";
import { listLimit, STORE_DEFAULTS } from "./defaults.ts";
import { holdsUnstorable, mayBeUnstorable, storable, UNSTORABLE_TEXT } from "./storable-text.ts";
import { StoreError } from "./errors.ts";
import { newId, newTraceId } from "./ids.ts";
import { jsonRecords, oneOf } from "./json-rows.ts";
import { spanRow, type SpanInput } from "./spans-repo.ts";
import { MAX_RETRY_BACKOFF_MS } from "../../contract/retry.ts";
// The same error name the executor gives a call whose process died: to the user, both are a crash.
import { WORKER_CRASH as WORKER_CRASH_ERROR } from "../../contract/run-errors.ts";
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
  /** Codec wire value of the argument list (batched: the list of the calls' argument lists). */
  args: unknown;
  /** Batched calls the run carries (absent: one call). */
  calls?: number | null;
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

export interface LeaseOptions {
  /** How long the claim holds the run unless renewed (renewLeases); default STORE_DEFAULTS.leaseMs. */
  leaseMs?: number;
}

export type ClaimOptions = ClaimFilter & LeaseOptions;

/**
 * A run as its finish returns it: every column but `args` (up to 1 MB a run, decoded for nothing
 * when the waiter asks without them). Absent, not null: null is a value args can hold (JSON null).
 * Whoever needs them reads them with argsOf.
 */
export type FinishedRun = Omit<RunRow, "args">;

export interface StartedInput {
  id: string;
  /** When the attempt started (epoch ms). */
  startedAt: number;
  /**
   * The attempt that started: a mark sent again late (its answer lost), after the run went back to
   * the queue and was claimed again at another attempt, is not the new attempt's start.
   */
  attempt?: number;
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
  /**
   * Apply only if the run is still on this attempt: a finish of an earlier attempt, arriving late
   * from a worker that holds the run again for a later one, must not end the later one (finishRuns).
   */
  attempt?: number;
  /** Spans of the run that came with its finish: kept in its row (see schema.ts, runs.spans). */
  spans?: SpanInput[];
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
  /** Only runs held by these (dead) workers. */
  workerIds?: string[];
  /** Never runs held by these (live) workers. */
  exceptWorkerIds?: string[];
  /**
   * Only runs whose lease has lapsed (the check any node makes as it goes). Without it every
   * matching running run is taken back: right only when no live node can hold one (the embedded
   * store at startup: its data folder is locked to one platform).
   */
  lapsedOnly?: boolean;
}

export interface RecoverResult {
  /** Never started (claimed ahead): back to the queue, same attempt. */
  requeued: string[];
  /** Started, retries left: the attempt counts; queued again after the retry backoff. */
  retried: string[];
  /** Started, no retries left. */
  failed: string[];
  /** Asked to cancel while held. */
  cancelled: string[];
}


export interface RunsRepo {
  createRun(input: CreateRunInput): Promise<RunRow>;
  /** Many runs in few statements (fan-out); same order as `inputs`. */
  createRuns(inputs: CreateRunInput[], opts?: { claimedBy?: { workerId: string } & LeaseOptions }): Promise<RunRow[]>;
  /** Claim up to `limit` queued runs at once, oldest first (same rules as claimNextRun). */
  claimNextRuns(workerId: string, limit: number, opts?: ClaimOptions): Promise<RunRow[]>;
  /** finishRun for many runs in one statement; returns the rows it applied to, as they are now (without args). */
  finishRuns(items: Array<FinishRunInput & { id: string }>): Promise<FinishedRun[]>;
  /** The stored args of these runs, by id, in one statement (missing ids are left out). */
  argsOf(ids: readonly string[]): Promise<Map<string, unknown>>;
  /** Runs by id (missing ids are left out); only finished ones with `terminalOnly`. */
  getRuns(ids: string[], opts?: { terminalOnly?: boolean }): Promise<RunRow[]>;
  /**
   * Atomically move the oldest eligible queued run (scheduled_for null or past) to `running`,
   * held by `workerId` under a lease (`lease_expires_at`), not yet started. Oldest = smallest
   * coalesce(scheduled_for, created_at), then id. Safe with many concurrent claimers (FOR UPDATE SKIP LOCKED on Postgres; PGlite runs one statement at a time).
   */
  claimNextRun(workerId: string, opts?: ClaimOptions): Promise<RunRow | null>;
  /** Claim one specific queued run (e.g. delivered by BullMQ). null if it is not queued any more. */
  claimRun(id: string, workerId: string, opts?: LeaseOptions): Promise<RunRow | null>;
  /**
   * claimRun for many runs in one statement: those of `ids` that were queued, now held by `workerId`
   * (with those it already holds and has not started: a repeated request gets the same answer).
   */
  claimRuns(ids: string[], workerId: string, opts?: LeaseOptions): Promise<RunRow[]>;
  /**
   * Record that these runs' user code started (their call was handed to a process), so a crash
   * from now on costs the attempt. Only runs `workerId` still holds; returns the ids it applied to.
   */
  markRunsStarted(workerId: string, items: StartedInput[]): Promise<string[]>;
  /**
   * Heartbeat: extend the leases of the runs `workerId` holds, in one statement; with `ids`, only
   * those of them (the ones the worker says it holds: a run it lost track of then lapses and comes
   * back instead of being renewed forever). Returns how many.
   */
  renewLeases(workerId: string, opts?: LeaseOptions & { ids?: readonly string[] }): Promise<number>;
  /** Move a queued/running run to a terminal status. false if it was already terminal (or held by another worker). */
  finishRun(id: string, input: FinishRunInput): Promise<boolean>;
  /**
   * running → queued (for another attempt, or handed back at the same one), many runs in one
   * statement. A run not running, held by another worker, or whose cancel was asked (finish it as
   * cancelled instead) is left alone. Returns the rows it applied to, as they are now.
   */
  requeueRuns(items: Array<RequeueInput & { id: string }>): Promise<RunRow[]>;
  /** queued → cancelled at once; running → cancel_requested = true (the executor kills it and finishes it). null if unknown. */
  requestCancel(id: string): Promise<RunRow | null>;
  getRun(id: string): Promise<RunRow | null>;
  /** Newest first. */
  listRuns(input?: ListRunsInput): Promise<RunRow[]>;
  countRunsByStatus(filter?: { workspaceId?: string; deploymentId?: string }): Promise<Record<RunStatus, number>>;
  /**
   * Take back runs held by a dead worker (lapsed lease, or every held run at an embedded startup):
   * not started → queued with the same attempt; started → the attempt counts (queued after the
   * retry backoff if retries remain, else failed with a WorkerCrashError); asked to cancel → cancelled.
   */
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
    calls: input.calls ?? null,
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
    leaseExpiresAt: null,
    cancelRequested: false,
    logSeq: 0,
    logBytes: 0,
  };
}

// A run as reads and writes hand it back: without the spans its row keeps (read by spans-repo.ts only)
// and the log mark (logs-repo.ts only).
const { spans: _keptSpans, logMark: _logMark, logMarkWorker: _logMarkWorker, ...RUN_COLUMNS } = getTableColumns(runs);
const FINISHED_COLUMNS = Object.entries(RUN_COLUMNS).filter(([key]) => key !== "args");
const FINISHED_RETURNING = sql.join(FINISHED_COLUMNS.map(([, column]) => column), sql`, `);
const RUN_RETURNING = sql.join(Object.values(RUN_COLUMNS), sql`, `);

const finishedRows = jsonRowDecoder<FinishedRun>(Object.fromEntries(FINISHED_COLUMNS));
const runRows = jsonRowDecoder<RunRow>(RUN_COLUMNS);

function leaseMsOf(opts: LeaseOptions | undefined): number {
  return nonNegativeInt("leaseMs", opts?.leaseMs ?? STORE_DEFAULTS.leaseMs);
}

/** What a run whose result the store cannot keep fails with. */
const RESULT_NOT_STORABLE = {
  name: "ResultNotStorableError",
  message: `the run's result contains ${UNSTORABLE_TEXT}, which the store cannot keep; return such data encoded (base64, or a Buffer/Uint8Array)`,
};

export function createRunsRepo({ db, kind, now }: RepoContext): RunsRepo {
  // A claimed run is held under a lease but not started: a crash before its call reaches a
  // process costs no attempt.
  const claimSet = (workerId: string, t: number, opts: LeaseOptions | undefined) => ({
    status: "running" as const,
    workerId,
    startedAt: null,
    leaseExpiresAt: t + leaseMsOf(opts),
  });

  const claimNextRuns: RunsRepo["claimNextRuns"] = async (workerId, limit, filter) => {
    if (limit <= 0 || (filter?.deploymentIds !== undefined && filter.deploymentIds.length === 0)) return [];
    const t = now();
    const next = db
      .select({ id: runs.id })
      .from(runs)
      .where(
        and(
          runStatusIs("queued"),
          or(isNull(runs.scheduledFor), lte(runs.scheduledFor, t)),
          filter?.deploymentIds === undefined ? undefined : inArray(runs.deploymentId, filter.deploymentIds),
          filter?.excludeDeploymentIds?.length ? notInArray(runs.deploymentId, filter.excludeDeploymentIds) : undefined,
        ),
      )
      .orderBy(sql`coalesce(${runs.scheduledFor}, ${runs.createdAt})`, asc(runs.id))
      .limit(limit);
    // PGlite is one backend running one statement at a time: no other claimer can hold these rows,
    // and taking their row locks would write each row once more.
    const locked = kind === "pglite" ? next : next.for("update", { skipLocked: true });
    // One statement: `= any(array(subquery))` evaluates the locking subquery once (an InitPlan),
    // unlike `in (subquery)`, which may re-run it per row and claim more than `limit`.
    const claimed = runRows(
      await db.execute(
        asJsonRows(
          db
            .update(runs)
            .set(claimSet(workerId, t, filter))
            .where(and(sql`${runs.id} = any(array(${locked}))`, runStatusIs("queued")))
            .returning(RUN_COLUMNS),
        ),
      ),
    );
    // Keep queue order (UPDATE … RETURNING does not promise one).
    return claimed.sort((a, b) => Number(a.scheduledFor ?? a.createdAt) - Number(b.scheduledFor ?? b.createdAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  };

  const claimRuns: RunsRepo["claimRuns"] = async (ids, workerId, opts) => {
    if (ids.length === 0) return [];
    const claim = db
      .update(runs)
      .set(claimSet(workerId, now(), opts))
      // The ids travel as one JSON parameter, however many there are. A run this worker claimed and
      // has not started is handed to it again: a repeated request (its answer was lost) orphans nothing.
      // Written as one CASE so the planner finds the runs by id (the ids are few) instead of through
      // the status indexes, whose entries for runs that moved on pile up until a vacuum.
      .where(
        and(
          oneOf(runs.id, ids),
          sql`case ${runs.status} when 'queued' then true when 'running' then ${runs.workerId} = ${workerId} and ${runs.startedAt} is null else false end`,
        ),
      )
      .returning(RUN_COLUMNS);
    return runRows(await db.execute(asJsonRows(claim)));
  };

  const finishRuns: RunsRepo["finishRuns"] = async (items) => {
    if (items.length === 0) return [];
    for (const it of items) {
      if (!TERMINAL_RUN_STATUSES.includes(it.status)) {
        throw new StoreError("BAD_INPUT", `finishRuns needs terminal statuses (${TERMINAL_RUN_STATUSES.join(", ")}), got ${it.status}`);
      }
    }
    const t = now();
    const applied: FinishedRun[] = [];
    for (let i = 0; i < items.length; i += STORE_DEFAULTS.insertBatch) {
      let chunk = items.slice(i, i + STORE_DEFAULTS.insertBatch).map((it) => ({
        id: it.id, status: it.status, result: it.result ?? null, error: it.error ?? null, worker: it.workerId ?? null, attempt: it.attempt ?? null, started: it.startedAt ?? null, finished: it.finishedAt ?? null,
        spans: it.spans?.length ? it.spans.map((s) => spanRow(s, it.id)) : null,
      }));
      let param = JSON.stringify(chunk);
      if (mayBeUnstorable(param)) {
        chunk = chunk.map((it) => ({ ...(holdsUnstorable(it.result) ? { ...it, status: "failed" as const, result: null, error: RESULT_NOT_STORABLE } : { ...it, error: storable(it.error) }), spans: storable(it.spans) }));
        param = JSON.stringify(chunk);
      }
      // One UPDATE for the whole batch, its rows as one JSON parameter; each row keeps finishRun's guards.
      const res = await db.execute(asJsonRows(sql`
        update ${runs} set status = v.status, result = v.result, error = v.error, finished_at = coalesce(v.finished, ${t}),
          started_at = coalesce(v.started, ${runs.startedAt}), spans = coalesce(v.spans, ${runs.spans})
        from ${jsonRecords(param, chunk.length, "id text, status text, result jsonb, error jsonb, worker text, attempt int, started bigint, finished bigint, spans jsonb")} as v
        where ${oneOf(runs.id, chunk.map((it) => it.id))} and ${runs.id} = v.id and ${runs.status} in ('queued', 'running') and (v.worker is null or ${runs.workerId} = v.worker)
          and (v.attempt is null or ${runs.attempt} = v.attempt)
        returning ${FINISHED_RETURNING}`));
      // The finished rows as they are now: whoever waits for them needs no read back (but for args).
      applied.push(...finishedRows(res));
    }
    return applied;
  };

  const requeueRuns: RunsRepo["requeueRuns"] = async (items) => {
    const requeued: RunRow[] = [];
    for (let i = 0; i < items.length; i += STORE_DEFAULTS.insertBatch) {
      const chunk = items.slice(i, i + STORE_DEFAULTS.insertBatch).map((it) => ({
        id: it.id, attempt: it.attempt ?? null, scheduled_for: it.scheduledFor, error: storable(it.error), worker: it.workerId ?? null,
      }));
      // One UPDATE for a whole hand-back (a worker giving back the runs it held ahead), each row
      // with its guards: a cancel asked meanwhile wins, and only the holder may.
      const res = await db.execute(asJsonRows(sql`
        update ${runs} set status = 'queued', attempt = coalesce(v.attempt, ${runs.attempt} + 1), scheduled_for = v.scheduled_for,
          error = v.error, worker_id = null, started_at = null, lease_expires_at = null
        from ${jsonRecords(JSON.stringify(chunk), chunk.length, "id text, attempt int, scheduled_for bigint, error jsonb, worker text")} as v
        where ${oneOf(runs.id, chunk.map((it) => it.id))} and ${runs.id} = v.id and ${runStatusIs("running")}
          and ${runs.cancelRequested} = false and (v.worker is null or ${runs.workerId} = v.worker)
        returning ${RUN_RETURNING}`));
      requeued.push(...runRows(res));
    }
    return requeued;
  };

  const repo: RunsRepo = {
    async createRun(input) {
      return (await repo.createRuns([input]))[0]!;
    },

    async createRuns(inputs, opts = {}) {
      const t = now();
      const out: RunRow[] = [];
      // Handed straight to a waiting worker: created already claimed by it (no queue stop, no claim statement).
      const holder = opts.claimedBy ? { status: "running" as const, workerId: opts.claimedBy.workerId, leaseExpiresAt: t + leaseMsOf(opts.claimedBy) } : undefined;
      for (let i = 0; i < inputs.length; i += STORE_DEFAULTS.insertBatch) {
        const rows = inputs.slice(i, i + STORE_DEFAULTS.insertBatch).map((x) => ({ ...runValues(x, t), ...holder }));
        // One statement per chunk with the rows as a single JSON parameter (far cheaper than
        // 23 parameters per row); the rows are fully built here, so they are returned as they are.
        // jsonb_to_recordset reads a JSON null as SQL NULL: args that are JSON null are kept as such.
        const json = rows.map((r) => ({
          id: r.id, workspace_id: r.workspaceId, deployment_id: r.deploymentId, version_id: r.versionId, status: r.status,
          args: r.args, calls: r.calls, attempt: r.attempt, max_retries: r.maxRetries, timeout_ms: r.timeoutMs, retry_backoff_ms: r.retryBackoffMs,
          trace_id: r.traceId, parent_span_id: r.parentSpanId, traceparent: r.traceparent, scheduled_for: r.scheduledFor,
          schedule_id: r.scheduleId, created_at: r.createdAt, worker_id: r.workerId, lease_expires_at: r.leaseExpiresAt,
        }));
        const param = JSON.stringify(json);
        if (mayBeUnstorable(param)) {
          const bad = rows.findIndex((r) => holdsUnstorable(r.args));
          if (bad >= 0) throw new StoreError("BAD_INPUT", `the arguments of run ${i + bad + 1} of ${inputs.length} contain ${UNSTORABLE_TEXT}, which the store cannot keep`, "Pass such data encoded (base64, or a Buffer/Uint8Array)");
        }
        await db.execute(sql`
          insert into ${runs} (id, workspace_id, deployment_id, version_id, status, args, calls, result, error, attempt, max_retries, timeout_ms,
            retry_backoff_ms, trace_id, parent_span_id, traceparent, scheduled_for, schedule_id, created_at, started_at, finished_at,
            worker_id, lease_expires_at, cancel_requested, log_seq)
          select id, workspace_id, deployment_id, version_id, status, coalesce(args, 'null'::jsonb), calls, null, null, attempt, max_retries, timeout_ms,
            retry_backoff_ms, trace_id, parent_span_id, traceparent, scheduled_for, schedule_id, created_at, null, null, worker_id,
            lease_expires_at, false, 0
          from jsonb_to_recordset(${param}::jsonb) as x(id text, workspace_id text, deployment_id text, version_id text,
            status text, args jsonb, calls int, attempt int, max_retries int, timeout_ms int, retry_backoff_ms int, trace_id text,
            parent_span_id text, traceparent text, scheduled_for bigint, schedule_id text, created_at bigint, worker_id text,
            lease_expires_at bigint)`);
        out.push(...(rows as RunRow[]));
      }
      return out;
    },

    claimNextRuns,
    finishRuns,

    async argsOf(ids) {
      if (ids.length === 0) return new Map();
      const rows = await db
        .select({ id: runs.id, args: runs.args })
        .from(runs)
        .where(oneOf(runs.id, ids));
      return new Map(rows.map((r) => [r.id, r.args]));
    },

    async claimNextRun(workerId, filter) {
      return (await claimNextRuns(workerId, 1, filter))[0] ?? null;
    },

    async getRuns(ids, opts = {}) {
      if (ids.length === 0) return [];
      const read = db
        .select(RUN_COLUMNS)
        .from(runs)
        // The ids travel as one JSON parameter: a long-poll over thousands of runs stays one cheap statement.
        .where(
          and(
            oneOf(runs.id, ids),
            opts.terminalOnly ? inArray(runs.status, [...TERMINAL_RUN_STATUSES]) : undefined,
          ),
        );
      return runRows(await db.execute(asJsonRows(read)));
    },

    async claimRun(id, workerId, opts) {
      return (await claimRuns([id], workerId, opts))[0] ?? null;
    },

    claimRuns,

    async finishRun(id, input) {
      return (await finishRuns([{ id, ...input }])).length > 0;
    },

    requeueRuns,

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
        .where(and(eq(runs.id, id), runStatusIs("queued")))
        .returning(RUN_COLUMNS);
      if (queued) return queued;
      const [running] = await db
        .update(runs)
        .set({ cancelRequested: true })
        .where(and(eq(runs.id, id), runStatusIs("running")))
        .returning(RUN_COLUMNS);
      if (running) return running;
      return (await db.select(RUN_COLUMNS).from(runs).where(eq(runs.id, id)))[0] ?? null;
    },

    async getRun(id) {
      return (await db.select(RUN_COLUMNS).from(runs).where(eq(runs.id, id)))[0] ?? null;
    },

    async listRuns(input = {}) {
      const statuses = input.status === undefined ? undefined : Array.isArray(input.status) ? input.status : [input.status];
      return db
        .select(RUN_COLUMNS)
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

    async markRunsStarted(workerId, items) {
      if (items.length === 0) return [];
      const json = JSON.stringify(items.map((it) => ({ id: it.id, started: it.startedAt, attempt: it.attempt ?? null })));
      const res = await db.execute(sql`
        update ${runs} set started_at = x.started
        from ${jsonRecords(json, items.length, "id text, started bigint, attempt int")} as x
        where ${oneOf(runs.id, items.map((it) => it.id))} and ${runs.id} = x.id and ${runs.status} = 'running' and ${runs.workerId} = ${workerId} and ${runs.startedAt} is null
          and (x.attempt is null or ${runs.attempt} = x.attempt)
        returning ${runs.id} as id`);
      return rowsOf<{ id: string }>(res).map((r) => r.id);
    },

    async renewLeases(workerId, opts) {
      const held = await db
        .update(runs)
        .set({ leaseExpiresAt: now() + leaseMsOf(opts) })
        .where(
          and(
            runStatusIs("running"),
            eq(runs.workerId, workerId),
            opts?.ids === undefined ? undefined : oneOf(runs.id, opts.ids),
          ),
        )
        .returning({ id: runs.id });
      return held.length;
    },

    async recoverStaleRuns(opts = {}) {
      const t = now();
      if (opts.workerIds?.length === 0) return { requeued: [], retried: [], failed: [], cancelled: [] };
      const which = and(
        runStatusIs("running"),
        opts.workerIds === undefined ? undefined : inArray(runs.workerId, opts.workerIds),
        opts.exceptWorkerIds?.length ? notInArray(runs.workerId, opts.exceptWorkerIds) : undefined,
        opts.lapsedOnly ? lt(runs.leaseExpiresAt, t) : undefined,
      );
      // Per row, from the values before the update: asked to cancel → cancelled; never started →
      // queued, same attempt; started with retries left → the next attempt after the backoff;
      // started, none left → failed. One statement, and rows another node is updating are skipped
      // (the next pass sees them), so nodes checking at once never wait on or deadlock each other.
      const cancel = sql`cancel_requested`;
      const fresh = sql`(not cancel_requested and started_at is null)`;
      const retry = sql`(not cancel_requested and started_at is not null and attempt <= max_retries)`;
      const fail = sql`(not cancel_requested and started_at is not null and attempt > max_retries)`;
      const backoff = sql`least(retry_backoff_ms * power(2, attempt - 1), ${MAX_RETRY_BACKOFF_MS}::bigint)::bigint`;
      const cause = opts.lapsedOnly
        ? sql`', whose lease on it lapsed at ' || to_char(to_timestamp(lease_expires_at / 1000.0) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || ' (the worker or its platform stopped without finishing it)'`
        : sql`' when the platform stopped'`;
      const message = sql`'run ' || id || ' (attempt ' || attempt || ' of ' || (max_retries + 1) || ') was running on worker ' || coalesce(worker_id, '?') || ${cause} || '; ' || case
          when cancel_requested then 'it had been asked to cancel'
          when attempt <= max_retries then 'retrying as attempt ' || (attempt + 1) || ' in ' || ${backoff} || ' ms'
          else 'no retries left' end`;
      const res = await db.execute(sql`
        with stale as materialized (
          select ${runs.id} as stale_id, ${runs.startedAt} is not null as was_started from ${runs} where ${which} for update skip locked
        )
        update ${runs} set
          status = case when ${cancel} then 'cancelled' when ${fail} then 'failed' else 'queued' end,
          error = case when ${fresh} then error else jsonb_build_object('name', ${WORKER_CRASH_ERROR}::text, 'message', ${message}) end,
          attempt = case when ${retry} then attempt + 1 else attempt end,
          scheduled_for = case when ${retry} then ${t}::bigint + ${backoff} else scheduled_for end,
          finished_at = case when ${cancel} or ${fail} then ${t}::bigint else finished_at end,
          worker_id = case when ${cancel} or ${fail} then worker_id end,
          started_at = case when ${cancel} or ${fail} then started_at end,
          lease_expires_at = null
        from stale where ${runs.id} = stale.stale_id
        returning ${runs.id} as id, ${runs.status} as status, stale.was_started as started`);
      const out: RecoverResult = { requeued: [], retried: [], failed: [], cancelled: [] };
      for (const r of rowsOf<{ id: string; status: RunStatus; started: boolean }>(res)) {
        if (r.status === "queued") (r.started ? out.retried : out.requeued).push(r.id);
        else if (r.status === "failed") out.failed.push(r.id);
        else out.cancelled.push(r.id);
      }
      for (const ids of Object.values(out)) ids.sort();
      return out;
    },
  };
  return repo;
}
