// The platform's persistent schema, written once for drizzle's pg-core so it runs
// unchanged on embedded PGlite and on a Postgres server. The DDL that creates it lives in
// migrations.ts (hand-written, frozen per version); the conformance suite checks that both agree.
//
// Conventions: ids are text (`run_…`, `ws_…`: see ids.ts), every `*_at` / `ts` column is epoch
// milliseconds in a bigint (read back as a JS number), span times are double precision epoch ms.
import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  unique,
} from "drizzle-orm/pg-core";

// The words runs, tokens, deployments, logs, spans and servings are described with belong to the
// API contract (workers and the SDK use them without loading the store); the columns use them here.
export * from "../../contract/vocabulary.ts";
import { DEPLOYMENT_KINDS, DEPLOYMENT_TYPES, LOG_STREAMS, RUN_STATUSES, SERVING_STATUSES, SPAN_STATUSES, TOKEN_SCOPES, type EventKind, type StoredError } from "../../contract/vocabulary.ts";

/** bigint read back as a JS number (epoch ms, byte sizes, counters: all far below 2^53). */
const int8 = (name: string) => bigint(name, { mode: "number" });

export const workspaces = pgTable("workspaces", {
  id: text("id").primaryKey(),
  name: text("name").notNull().unique("workspaces_name_key"),
  createdAt: int8("created_at").notNull(),
});

export const deployments = pgTable(
  "deployments",
  {
    id: text("id").primaryKey(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    type: text("type", { enum: DEPLOYMENT_TYPES }).notNull(),
    kind: text("kind", { enum: DEPLOYMENT_KINDS }).notNull(),
    /** No FK (it would be circular with deployment_versions); always set in the same transaction. */
    currentVersionId: text("current_version_id"),
    createdAt: int8("created_at").notNull(),
    updatedAt: int8("updated_at").notNull(),
  },
  (t) => [unique("deployments_workspace_name_uq").on(t.workspaceId, t.name)],
);

export const deploymentVersions = pgTable(
  "deployment_versions",
  {
    id: text("id").primaryKey(),
    deploymentId: text("deployment_id")
      .notNull()
      .references(() => deployments.id, { onDelete: "cascade" }),
    /** 1, 2, 3… per deployment, for humans (dashboard, CLI). */
    number: integer("number").notNull(),
    contentHash: text("content_hash").notNull(),
    lockfileHash: text("lockfile_hash"),
    manifest: jsonb("manifest").$type<Record<string, unknown>>().notNull(),
    bundleBytes: int8("bundle_bytes").notNull(),
    createdAt: int8("created_at").notNull(),
  },
  (t) => [
    unique("deployment_versions_content_uq").on(t.deploymentId, t.contentHash),
    unique("deployment_versions_number_uq").on(t.deploymentId, t.number),
  ],
);

/** Content-addressed bundle blobs; the bytes live on disk, the DB only knows they exist. */
export const bundles = pgTable("bundles", {
  contentHash: text("content_hash").primaryKey(),
  size: int8("size").notNull(),
  createdAt: int8("created_at").notNull(),
});

export const tokens = pgTable(
  "tokens",
  {
    id: text("id").primaryKey(),
    /** null = admin token (all workspaces). */
    workspaceId: text("workspace_id").references(() => workspaces.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    /** sha256 hex of the secret; the secret itself is never stored. */
    tokenHash: text("token_hash").notNull().unique("tokens_token_hash_key"),
    scope: text("scope", { enum: TOKEN_SCOPES }).notNull(),
    /** For `serving` tokens: the serving's deployment id. */
    servingId: text("serving_id").references(() => deployments.id, { onDelete: "cascade" }),
    createdAt: int8("created_at").notNull(),
    revokedAt: int8("revoked_at"),
  },
  (t) => [index("tokens_workspace_idx").on(t.workspaceId), index("tokens_serving_live_idx").on(t.servingId).where(sql`revoked_at IS NULL`)],
);

/** One row (id 1): moves on with every revocation; nodes caching verified tokens compare against it. */
export const tokenEpoch = pgTable("token_epoch", {
  id: integer("id").primaryKey(),
  value: int8("value").notNull(),
});

/** Secrets the platform keeps for itself (e.g. the key serving-token secrets are derived with). */
export const platformKeys = pgTable("platform_keys", {
  name: text("name").primaryKey(),
  value: text("value").notNull(),
  createdAt: int8("created_at").notNull(),
});

export const schedules = pgTable(
  "schedules",
  {
    id: text("id").primaryKey(),
    deploymentId: text("deployment_id")
      .notNull()
      .unique("schedules_deployment_id_key")
      .references(() => deployments.id, { onDelete: "cascade" }),
    cron: text("cron").notNull(),
    timezone: text("timezone").notNull(),
    startsAt: int8("starts_at"),
    endsAt: int8("ends_at"),
    lastTickAt: int8("last_tick_at"),
    /** null = no further tick (ended or not computable). */
    nextTickAt: int8("next_tick_at"),
    enabled: boolean("enabled").notNull(),
    createdAt: int8("created_at").notNull(),
    updatedAt: int8("updated_at").notNull(),
  },
  (t) => [index("schedules_due_idx").on(t.nextTickAt).where(sql`enabled`)],
);

export const runs = pgTable(
  "runs",
  {
    id: text("id").primaryKey(),
    /** Its version's (not a key of its own: the version references the deployment and the workspace). */
    workspaceId: text("workspace_id").notNull(),
    /** Its version's (see workspaceId). */
    deploymentId: text("deployment_id").notNull(),
    versionId: text("version_id")
      .notNull()
      .references(() => deploymentVersions.id, { onDelete: "cascade" }),
    status: text("status", { enum: RUN_STATUSES }).notNull(),
    /** Codec wire value of the argument list (of a batched run: the list of its calls' argument lists). */
    args: jsonb("args").$type<unknown>().notNull(),
    /** Batched calls the run carries (null: one call); its result then lists their outcomes. */
    calls: integer("calls"),
    /** Codec wire value of the return value. */
    result: jsonb("result").$type<unknown>(),
    error: jsonb("error").$type<StoredError>(),
    /** 1-based number of the current (or next) attempt. */
    attempt: integer("attempt").notNull(),
    maxRetries: integer("max_retries").notNull(),
    timeoutMs: integer("timeout_ms"),
    retryBackoffMs: integer("retry_backoff_ms").notNull(),
    traceId: text("trace_id").notNull(),
    parentSpanId: text("parent_span_id"),
    traceparent: text("traceparent"),
    /** Not before this time (retry backoff, delayed runs). null = as soon as possible. */
    scheduledFor: int8("scheduled_for"),
    scheduleId: text("schedule_id").references(() => schedules.id, { onDelete: "set null" }),
    createdAt: int8("created_at").notNull(),
    /** When the current attempt's user code started; null while the run is queued or only claimed (claimed ahead, not yet handed to a process). */
    startedAt: int8("started_at"),
    finishedAt: int8("finished_at"),
    workerId: text("worker_id"),
    /** While running: the holder must renew by then (heartbeat), else any node may take the run back. */
    leaseExpiresAt: int8("lease_expires_at"),
    cancelRequested: boolean("cancel_requested").notNull(),
    /** Last log seq handed out (see appendLogs); internal. */
    logSeq: integer("log_seq").notNull(),
    /** Bytes of log lines kept (see appendLogs' limit), -1 once the run reached it; internal. */
    logBytes: int8("log_bytes").notNull().default(0),
    /**
     * The highest number its worker gave a log line of this run that was applied, and that worker:
     * a report sent again skips what it applied before (see appendLogs); internal.
     */
    logMark: int8("log_mark"),
    logMarkWorker: text("log_mark_worker"),
    /**
     * The spans that came with the run's finish, kept in its row: written by the finish's own
     * statement instead of a `spans` row each (with its index entries). Spans that came before the
     * finish, or of a finish not applied, are rows of `spans`; readers see both (spans-repo.ts).
     */
    spans: jsonb("spans").$type<SpanRow[]>(),
  },
  (t) => [
    index("runs_queue_idx")
      .on(sql`(coalesce(${t.scheduledFor}, ${t.createdAt}))`, t.id)
      .where(sql`status = 'queued'`),
    index("runs_workspace_idx").on(t.workspaceId, t.id),
    index("runs_deployment_idx").on(t.deploymentId, t.id),
    index("runs_running_idx").on(t.workerId).where(sql`status = 'running'`),
  ],
);

export const runLogs = pgTable(
  "run_logs",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    runId: text("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    /** 1, 2, 3… per run, in append order. */
    seq: integer("seq").notNull(),
    stream: text("stream", { enum: LOG_STREAMS }).notNull(),
    line: text("line").notNull(),
    ts: int8("ts").notNull(),
  },
  (t) => [unique("run_logs_seq_uq").on(t.runId, t.seq)],
);

/** Trace spans of runs and servings. No FKs: spans may arrive before or after their owner. */
export const spans = pgTable(
  "spans",
  {
    spanId: text("span_id").primaryKey(),
    traceId: text("trace_id").notNull(),
    parentSpanId: text("parent_span_id"),
    runId: text("run_id"),
    servingId: text("serving_id"),
    op: text("op").notNull(),
    name: text("name").notNull(),
    start: doublePrecision("start").notNull(),
    end: doublePrecision("end").notNull(),
    status: text("status", { enum: SPAN_STATUSES }).notNull(),
    error: jsonb("error").$type<StoredError>(),
    attributes: jsonb("attributes").$type<Record<string, unknown>>().notNull(),
  },
  (t) => [
    index("spans_trace_idx").on(t.traceId),
    index("spans_run_idx").on(t.runId),
    index("spans_serving_idx").on(t.servingId, t.start),
  ],
);

export const events = pgTable(
  "events",
  {
    id: text("id").primaryKey(),
    /** null = platform-wide event. */
    workspaceId: text("workspace_id").references(() => workspaces.id, { onDelete: "cascade" }),
    deploymentId: text("deployment_id"),
    runId: text("run_id"),
    kind: text("kind").$type<EventKind>().notNull(),
    message: text("message").notNull(),
    data: jsonb("data").$type<Record<string, unknown>>(),
    ts: int8("ts").notNull(),
  },
  (t) => [
    index("events_workspace_idx").on(t.workspaceId, t.ts),
    index("events_deployment_idx").on(t.deploymentId, t.ts),
  ],
);

export const servings = pgTable("servings", {
  deploymentId: text("deployment_id")
    .primaryKey()
    .references(() => deployments.id, { onDelete: "cascade" }),
  versionId: text("version_id"),
  status: text("status", { enum: SERVING_STATUSES }).notNull(),
  /** `/s/<workspace>/<name>/` */
  urlPath: text("url_path"),
  pid: integer("pid"),
  /** Which worker process hosts it (distributed mode); null = the platform itself. */
  workerId: text("worker_id"),
  restarts: integer("restarts").notNull(),
  lastError: text("last_error"),
  requestCount: int8("request_count").notNull(),
  updatedAt: int8("updated_at").notNull(),
});

/** Worker processes that registered with the control plane (`nbx worker`, or the local one of `nbx up`). */
export const workers = pgTable("workers", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  /** Where the control plane reaches the worker's serving listener (`http://host:port`). */
  address: text("address"),
  slots: integer("slots").notNull(),
  /** Started by `nbx up` itself: it dies with its control plane, so a restart takes its runs back at once. */
  local: boolean("local").notNull(),
  /** The token it registered with (workers sharing a token are one principal). */
  tokenId: text("token_id").notNull(),
  registeredAt: int8("registered_at").notNull(),
  lastSeenAt: int8("last_seen_at").notNull(),
  /** Set when it left cleanly or was declared dead (heartbeat lapsed). */
  goneAt: int8("gone_at"),
  /** How it said it runs user code when it registered; null for workers registered before this was kept. */
  sandbox: jsonb("sandbox").$type<WorkerSandbox>(),
});

/** How a worker runs user code: under bubblewrap (detail: its version) or not (detail: why). */
export interface WorkerSandbox {
  kind: "bwrap" | "none";
  detail: string;
}

export const schema = {
  workspaces,
  deployments,
  deploymentVersions,
  bundles,
  tokens,
  tokenEpoch,
  platformKeys,
  schedules,
  runs,
  runLogs,
  spans,
  events,
  servings,
  workers,
};
export type Schema = typeof schema;

export type WorkspaceRow = typeof workspaces.$inferSelect;
export type DeploymentRow = typeof deployments.$inferSelect;
export type DeploymentVersionRow = typeof deploymentVersions.$inferSelect;
export type BundleRow = typeof bundles.$inferSelect;
export type TokenRow = typeof tokens.$inferSelect;
export type ScheduleRow = typeof schedules.$inferSelect;
/** A run as the store hands it out: its kept spans are read through spans-repo.ts only. */
export type RunRow = Omit<typeof runs.$inferSelect, "spans" | "logMark" | "logMarkWorker">;
export type RunLogRow = typeof runLogs.$inferSelect;
export type SpanRow = typeof spans.$inferSelect;
export type EventRow = typeof events.$inferSelect;
export type ServingRow = typeof servings.$inferSelect;

export type WorkerRow = typeof workers.$inferSelect;
