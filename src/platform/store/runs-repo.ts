import { and, asc, eq, inArray, lt, lte, notInArray, sql, type SQL } from "drizzle-orm";
import type { RepoContext } from "./db.ts";
import { rowsOf } from "./migrations.ts";
import { jsonRowDecoder, jsonRowsOf } from "./json-result.ts";
import { RUN_COLUMNS, RUNS_NOW, STATUS_NOW, runNowColumns, statusNowIn } from "./runs-now.ts";
import { listLimit, STORE_DEFAULTS } from "./defaults.ts";
import { holdsNul, mayHoldNul, withoutNul } from "./nul.ts";
import { StoreError } from "./errors.ts";
import { newId, newTraceId } from "./ids.ts";
import { jsonRecords, oneOf } from "./json-rows.ts";
import { spanRow, type SpanInput } from "./spans-repo.ts";
import { MAX_RETRY_BACKOFF_MS } from "../../contract/retry.ts";
// The same error name the executor gives a call whose process died: to the user, both are a crash.
import { WORKER_CRASH as WORKER_CRASH_ERROR } from "../../contract/run-errors.ts";
import {
  RUN_STATUSES,
  runHolds,
  runQueue,
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
  /** running → queued for another attempt: the row as it is now. null if not running, or cancel was requested (finish it as cancelled instead). */
  requeueForRetry(id: string, input: RequeueInput): Promise<RunRow | null>;
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

const FINISHED_COLUMNS = Object.entries(RUN_COLUMNS).filter(([key]) => key !== "args");
const FINISHED_RETURNING = sql.join(FINISHED_COLUMNS.map(([, column]) => column), sql`, `);

const finishedRows = jsonRowDecoder<FinishedRun>(Object.fromEntries(FINISHED_COLUMNS));
const runRows = jsonRowDecoder<RunRow>(RUN_COLUMNS);

function leaseMsOf(opts: LeaseOptions | undefined): number {
  return nonNegativeInt("leaseMs", opts?.leaseMs ?? STORE_DEFAULTS.leaseMs);
}

/** What a run whose result the store cannot keep fails with. */
const RESULT_WITH_NUL = {
  name: "ResultNotStorableError",
  message: "the run's result contains a NUL character (U+0000), which the store cannot keep; return such data encoded (base64, or a Buffer/Uint8Array)",
};

const listOf = (values: readonly string[]) => sql.join(values.map((v) => sql`${v}`), sql`, `);

const RUN_NOW_COLUMNS = runNowColumns();

/** The runs a claim just took (their holds as `h`), as they are now. */
const claimedRows = jsonRowsOf(sql`select ${runNowColumns(sql`runs`, sql`h`)} from ${runs} join h on h.run_id = ${runs.id}`);

export function createRunsRepo({ db, kind, now }: RepoContext): RunsRepo {
  // A claimed run is held under a lease but not started: a crash before its call reaches a
  // process costs no attempt. Only its queue row and its hold are written.
  const holdsFrom = (from: string, workerId: string, t: number, opts: LeaseOptions | undefined) =>
    sql`insert into ${runHolds} (run_id, worker_id, lease_expires_at, started_at)
      select run_id, ${workerId}, ${t + leaseMsOf(opts)}::bigint, null from ${sql.raw(from)} returning ${runHolds}.*`;

  const readRuns = async (where: SQL | undefined, tail: SQL = sql``): Promise<RunRow[]> =>
    runRows(await db.execute(jsonRowsOf(sql`select ${RUN_NOW_COLUMNS} from ${RUNS_NOW} ${where ? sql`where ${where}` : sql``} ${tail}`)));

  const claimNextRuns: RunsRepo["claimNextRuns"] = async (workerId, limit, filter) => {
    if (limit <= 0 || (filter?.deploymentIds !== undefined && filter.deploymentIds.length === 0)) return [];
    const t = now();
    // Due = its place is not after now (a place is its scheduled time, else its creation time).
    const next = db
      .select({ id: runQueue.runId })
      .from(runQueue)
      .where(
        and(
          lte(runQueue.position, t),
          filter?.deploymentIds === undefined ? undefined : inArray(runQueue.deploymentId, filter.deploymentIds),
          filter?.excludeDeploymentIds?.length ? notInArray(runQueue.deploymentId, filter.excludeDeploymentIds) : undefined,
        ),
      )
      .orderBy(asc(runQueue.position), asc(runQueue.runId))
      .limit(limit);
    // PGlite is one backend running one statement at a time: no other claimer can hold these rows,
    // and taking their row locks would write each row once more.
    const locked = kind === "pglite" ? next : next.for("update", { skipLocked: true });
    // One statement: `= any(array(subquery))` evaluates the locking subquery once (an InitPlan),
    // unlike `in (subquery)`, which may re-run it per row and claim more than `limit`.
    const claimed = runRows(
      await db.execute(sql`
        with c as (
          delete from ${runQueue} where ${runQueue.runId} = any(array(${locked})) returning ${runQueue.runId} as run_id
        ), h as (${holdsFrom("c", workerId, t, filter)})
        ${claimedRows}`),
    );
    // Keep queue order (UPDATE … RETURNING does not promise one).
    return claimed.sort((a, b) => Number(a.scheduledFor ?? a.createdAt) - Number(b.scheduledFor ?? b.createdAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  };

  const claimRuns: RunsRepo["claimRuns"] = async (ids, workerId, opts) => {
    if (ids.length === 0) return [];
    // The ids travel as one JSON parameter, however many there are. A run this worker claimed and
    // has not started is handed to it again: a repeated request (its answer was lost) orphans nothing.
    const t = now();
    return runRows(
      await db.execute(sql`
        with c as (
          delete from ${runQueue} where ${oneOf(runQueue.runId, ids)} returning ${runQueue.runId} as run_id
        ), again as (
          update ${runHolds} set lease_expires_at = ${t + leaseMsOf(opts)}
          where ${oneOf(runHolds.runId, ids)} and ${runHolds.workerId} = ${workerId} and ${runHolds.startedAt} is null
          returning ${runHolds}.*
        ), fresh as (${holdsFrom("c", workerId, t, opts)}),
        h as (select * from fresh union all select * from again)
        ${claimedRows}`),
    );
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
        id: it.id, status: it.status, result: it.result ?? null, error: it.error ?? null, worker: it.workerId ?? null, started: it.startedAt ?? null, finished: it.finishedAt ?? null,
        spans: it.spans?.length ? it.spans.map((s) => spanRow(s, it.id)) : null,
      }));
      let param = JSON.stringify(chunk);
      if (mayHoldNul(param)) {
        chunk = chunk.map((it) => ({ ...(holdsNul(it.result) ? { ...it, status: "failed" as const, result: null, error: RESULT_WITH_NUL } : { ...it, error: withoutNul(it.error) }), spans: withoutNul(it.spans) }));
        param = JSON.stringify(chunk);
      }
      const ids = chunk.map((it) => it.id);
      // One statement for the whole batch, its rows as one JSON parameter: a run held (by the
      // finishing worker, if one is named) or, finished by no worker, still queued, leaves its hold
      // or the queue, and its row takes its outcome with the holder and start its hold kept.
      const byNoWorker = chunk.some((it) => it.worker === null);
      const res = await db.execute(sql`
        with v as ${jsonRecords(param, chunk.length, "id text, status text, result jsonb, error jsonb, worker text, started bigint, finished bigint, spans jsonb")},
        held as (
          delete from ${runHolds} using v
          where ${oneOf(runHolds.runId, ids)} and ${runHolds.runId} = v.id and (v.worker is null or ${runHolds.workerId} = v.worker)
          returning ${runHolds.runId} as run_id, ${runHolds.workerId} as worker_id, ${runHolds.startedAt} as started_at
        ), ${
          byNoWorker
            ? sql`waiting as (
          delete from ${runQueue} using v
          where ${oneOf(runQueue.runId, ids)} and ${runQueue.runId} = v.id and v.worker is null
          returning ${runQueue.runId} as run_id, null::text as worker_id, null::bigint as started_at
        ), gone as (select * from held union all select * from waiting),`
            : sql`gone as (select * from held),`
        }
        done as (
          update ${runs} set status = v.status, result = v.result, error = v.error, finished_at = coalesce(v.finished, ${t}),
            started_at = coalesce(v.started, gone.started_at), worker_id = gone.worker_id, spans = coalesce(v.spans, ${runs.spans})
          from v join gone on gone.run_id = v.id
          where ${oneOf(runs.id, ids)} and ${runs.id} = v.id
          returning ${FINISHED_RETURNING}
        ) select coalesce(json_agg(done), '[]')::text as rows from done`);
      // The finished rows as they are now: whoever waits for them needs no read back (but for args).
      applied.push(...finishedRows(res));
    }
    return applied;
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
        // The run's row says `queued` until it ends; its holder, if any, is its hold's.
        const json = rows.map((r) => ({
          id: r.id, workspace_id: r.workspaceId, deployment_id: r.deploymentId, version_id: r.versionId,
          args: r.args, attempt: r.attempt, max_retries: r.maxRetries, timeout_ms: r.timeoutMs, retry_backoff_ms: r.retryBackoffMs,
          trace_id: r.traceId, parent_span_id: r.parentSpanId, traceparent: r.traceparent, scheduled_for: r.scheduledFor,
          schedule_id: r.scheduleId, created_at: r.createdAt, worker_id: r.workerId, lease_expires_at: r.leaseExpiresAt,
        }));
        const param = JSON.stringify(json);
        if (mayHoldNul(param)) {
          const bad = rows.findIndex((r) => holdsNul(r.args));
          if (bad >= 0) throw new StoreError("BAD_INPUT", `the arguments of run ${i + bad + 1} of ${inputs.length} contain a NUL character (U+0000), which the store cannot keep`, "Pass such data encoded (base64, or a Buffer/Uint8Array)");
        }
        await db.execute(sql`
          with x as materialized (
            select * from jsonb_to_recordset(${param}::jsonb) as x(id text, workspace_id text, deployment_id text, version_id text,
              args jsonb, attempt int, max_retries int, timeout_ms int, retry_backoff_ms int, trace_id text,
              parent_span_id text, traceparent text, scheduled_for bigint, schedule_id text, created_at bigint, worker_id text,
              lease_expires_at bigint)
          ), made as (
            insert into ${runs} (id, workspace_id, deployment_id, version_id, status, args, result, error, attempt, max_retries, timeout_ms,
              retry_backoff_ms, trace_id, parent_span_id, traceparent, scheduled_for, schedule_id, created_at, started_at, finished_at,
              worker_id, lease_expires_at, cancel_requested, log_seq)
            select id, workspace_id, deployment_id, version_id, 'queued', coalesce(args, 'null'::jsonb), null, null, attempt, max_retries, timeout_ms,
              retry_backoff_ms, trace_id, parent_span_id, traceparent, scheduled_for, schedule_id, created_at, null, null, null,
              null, false, 0
            from x
          ), queued as (
            insert into ${runQueue} (run_id, deployment_id, position)
            select id, deployment_id, coalesce(scheduled_for, created_at) from x where worker_id is null
          )
          insert into ${runHolds} (run_id, worker_id, lease_expires_at)
          select id, worker_id, lease_expires_at from x where worker_id is not null`);
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
      // The ids travel as one JSON parameter: a long-poll over thousands of runs stays one cheap statement.
      return readRuns(and(oneOf(runs.id, ids), opts.terminalOnly ? inArray(runs.status, [...TERMINAL_RUN_STATUSES]) : undefined));
    },

    async claimRun(id, workerId, opts) {
      return (await claimRuns([id], workerId, opts))[0] ?? null;
    },

    claimRuns,

    async finishRun(id, input) {
      return (await finishRuns([{ id, ...input }])).length > 0;
    },

    async requeueForRetry(id, input) {
      const scheduledFor = input.scheduledFor;
      // The hold first, then the run's row, as every statement that writes both (no deadlock). A run
      // asked to cancel is not queued again: its holder finishes it as cancelled.
      const res = await db.execute(sql`
        with h as (
          delete from ${runHolds}
          where ${runHolds.runId} = ${id}
            ${input.workerId === undefined ? sql`` : sql`and ${runHolds.workerId} = ${input.workerId}`}
            and not exists (select 1 from ${runs} where ${runs.id} = ${id} and ${runs.cancelRequested})
          returning ${runHolds.runId} as run_id
        ), u as (
          update ${runs} set attempt = coalesce(${input.attempt ?? null}::int, ${runs.attempt} + 1), scheduled_for = ${scheduledFor}::bigint,
            error = ${input.error === null ? null : JSON.stringify(withoutNul(input.error))}::jsonb
          from h where ${runs.id} = h.run_id
          returning ${runs}.*
        ), q as (
          insert into ${runQueue} (run_id, deployment_id, position) select id, deployment_id, coalesce(${scheduledFor}::bigint, created_at) from u
        ) ${jsonRowsOf(sql`select ${runNowColumns(sql`u`, null)} from u`)}`);
      return runRows(res)[0] ?? null;
    },

    async requestCancel(id) {
      const t = now();
      const error = { name: "CancelledError", message: `run ${id} was cancelled before it started` };
      // Queued and not held: cancelled at once (it leaves the queue).
      await db.execute(sql`
        with gone as (delete from ${runQueue} where ${runQueue.runId} = ${id} returning ${runQueue.runId} as run_id)
        update ${runs} set status = 'cancelled', cancel_requested = true, finished_at = ${t}, error = ${JSON.stringify(error)}::jsonb
        from gone where ${runs.id} = gone.run_id`);
      // Held: asked to cancel (its holder kills it and finishes it). Held by the time this runs if it
      // was claimed in between: the first statement then found nothing.
      await db.execute(sql`
        update ${runs} set cancel_requested = true
        where ${runs.id} = ${id} and not ${runs.cancelRequested}
          and exists (select 1 from ${runHolds} where ${runHolds.runId} = ${id})`);
      return repo.getRun(id);
    },

    async getRun(id) {
      return (await readRuns(eq(runs.id, id)))[0] ?? null;
    },

    async listRuns(input = {}) {
      const statuses = input.status === undefined ? undefined : Array.isArray(input.status) ? input.status : [input.status];
      const rows = await readRuns(
        and(
          input.workspaceId === undefined ? undefined : eq(runs.workspaceId, input.workspaceId),
          input.deploymentId === undefined ? undefined : eq(runs.deploymentId, input.deploymentId),
          statuses === undefined ? undefined : statusNowIn(statuses),
          input.before === undefined ? undefined : lt(runs.id, input.before),
        ),
        sql`order by ${runs.id} desc limit ${listLimit(input.limit)}`,
      );
      return rows.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    },

    async countRunsByStatus(filter = {}) {
      const where = and(
        filter.workspaceId === undefined ? undefined : eq(runs.workspaceId, filter.workspaceId),
        filter.deploymentId === undefined ? undefined : eq(runs.deploymentId, filter.deploymentId),
      );
      const res = await db.execute(sql`select ${STATUS_NOW} as status, count(*)::int as n from ${RUNS_NOW} ${where ? sql`where ${where}` : sql``} group by 1`);
      const out = Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<RunStatus, number>;
      for (const r of rowsOf<{ status: RunStatus; n: number | string }>(res)) out[r.status] = Number(r.n);
      return out;
    },

    async markRunsStarted(workerId, items) {
      if (items.length === 0) return [];
      const json = JSON.stringify(items.map((it) => ({ id: it.id, started: it.startedAt })));
      const res = await db.execute(sql`
        update ${runHolds} set started_at = x.started
        from ${jsonRecords(json, items.length, "id text, started bigint")} as x
        where ${oneOf(runHolds.runId, items.map((it) => it.id))} and ${runHolds.runId} = x.id and ${runHolds.workerId} = ${workerId} and ${runHolds.startedAt} is null
        returning ${runHolds.runId} as id`);
      return rowsOf<{ id: string }>(res).map((r) => r.id);
    },

    async renewLeases(workerId, opts) {
      const held = await db
        .update(runHolds)
        .set({ leaseExpiresAt: now() + leaseMsOf(opts) })
        .where(and(eq(runHolds.workerId, workerId), opts?.ids === undefined ? undefined : oneOf(runHolds.runId, opts.ids)))
        .returning({ id: runHolds.runId });
      return held.length;
    },

    async recoverStaleRuns(opts = {}) {
      const t = now();
      if (opts.workerIds?.length === 0) return { requeued: [], retried: [], failed: [], cancelled: [] };
      const which = and(
        sql`true`,
        opts.workerIds === undefined ? undefined : sql`h.worker_id in (${listOf(opts.workerIds)})`,
        opts.exceptWorkerIds?.length ? sql`h.worker_id not in (${listOf(opts.exceptWorkerIds)})` : undefined,
        opts.lapsedOnly ? sql`h.lease_expires_at < ${t}` : undefined,
      );
      // Per held run, from its values before the statement: asked to cancel → cancelled; never
      // started → queued, same attempt (only its hold and queue rows change); started with retries left →
      // the next attempt after the backoff; started, none left → failed. One statement, and runs
      // another node is updating are skipped (the next pass sees them), so nodes checking at once
      // never wait on or deadlock each other.
      const cancel = sql`s.cancel_asked`;
      const fresh = sql`(not s.cancel_asked and not s.was_started)`;
      const retry = sql`(not s.cancel_asked and s.was_started and s.attempt <= s.max_retries)`;
      const fail = sql`(not s.cancel_asked and s.was_started and s.attempt > s.max_retries)`;
      const ends = sql`(${cancel} or ${fail})`;
      const backoff = sql`least(s.retry_backoff_ms * power(2, s.attempt - 1), ${MAX_RETRY_BACKOFF_MS}::bigint)::bigint`;
      const cause = opts.lapsedOnly
        ? sql`', whose lease on it lapsed at ' || to_char(to_timestamp(s.lease_expires_at / 1000.0) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || ' (the worker or its platform stopped without finishing it)'`
        : sql`' when the platform stopped'`;
      const message = sql`'run ' || s.id || ' (attempt ' || s.attempt || ' of ' || (s.max_retries + 1) || ') was running on worker ' || coalesce(s.worker_id, '?') || ${cause} || '; ' || case
          when s.cancel_asked then 'it had been asked to cancel'
          when s.attempt <= s.max_retries then 'retrying as attempt ' || (s.attempt + 1) || ' in ' || ${backoff} || ' ms'
          else 'no retries left' end`;
      const res = await db.execute(sql`
        with s as materialized (
          select h.run_id as id, h.worker_id, h.lease_expires_at, h.started_at, h.started_at is not null as was_started,
            r.cancel_requested as cancel_asked, r.attempt, r.max_retries, r.retry_backoff_ms, r.deployment_id, coalesce(r.scheduled_for, r.created_at) as place
          from ${runHolds} h join ${runs} r on r.id = h.run_id
          where ${which} for update of h skip locked
        ), released as (
          delete from ${runHolds} using s where ${runHolds.runId} = s.id
        ), back as (
          insert into ${runQueue} (run_id, deployment_id, position)
          select s.id, s.deployment_id, case when ${retry} then ${t}::bigint + ${backoff} else s.place end from s where not ${ends}
        ), counted as (
          update ${runs} set
            status = case when ${cancel} then 'cancelled' when ${fail} then 'failed' else ${runs.status} end,
            error = jsonb_build_object('name', ${WORKER_CRASH_ERROR}::text, 'message', ${message}),
            attempt = case when ${retry} then ${runs.attempt} + 1 else ${runs.attempt} end,
            scheduled_for = case when ${retry} then ${t}::bigint + ${backoff} else ${runs.scheduledFor} end,
            finished_at = case when ${ends} then ${t}::bigint else ${runs.finishedAt} end,
            worker_id = case when ${ends} then s.worker_id else ${runs.workerId} end,
            started_at = case when ${ends} then s.started_at else ${runs.startedAt} end
          from s where ${runs.id} = s.id and not ${fresh}
        )
        select s.id, case when ${cancel} then 'cancelled' when ${fail} then 'failed' else 'queued' end as status, s.was_started as started from s`);
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
