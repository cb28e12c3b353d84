// Versioned migrations: MIGRATIONS[i] is version i + 1. Each entry is frozen once released;
// change the schema by appending a new entry (and updating schema.ts to match).
// Statements are separated by `--> statement-breakpoint` (drizzle-kit's convention), because
// PGlite's extended protocol runs one statement per query.
import { sql } from "drizzle-orm";
import type { Db } from "./db.ts";
import { sleep } from "../../lib/pause.ts";

export const STATEMENT_BREAKPOINT = "--> statement-breakpoint";

const V1 = `
CREATE TABLE workspaces (
  id text PRIMARY KEY,
  name text NOT NULL,
  created_at bigint NOT NULL,
  CONSTRAINT workspaces_name_key UNIQUE (name)
);
--> statement-breakpoint
CREATE TABLE deployments (
  id text PRIMARY KEY,
  workspace_id text NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  name text NOT NULL,
  type text NOT NULL,
  kind text NOT NULL,
  current_version_id text,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  CONSTRAINT deployments_workspace_name_uq UNIQUE (workspace_id, name)
);
--> statement-breakpoint
CREATE TABLE deployment_versions (
  id text PRIMARY KEY,
  deployment_id text NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  number integer NOT NULL,
  content_hash text NOT NULL,
  lockfile_hash text,
  manifest jsonb NOT NULL,
  bundle_bytes bigint NOT NULL,
  created_at bigint NOT NULL,
  CONSTRAINT deployment_versions_content_uq UNIQUE (deployment_id, content_hash),
  CONSTRAINT deployment_versions_number_uq UNIQUE (deployment_id, number)
);
--> statement-breakpoint
CREATE TABLE bundles (
  content_hash text PRIMARY KEY,
  size bigint NOT NULL,
  created_at bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE tokens (
  id text PRIMARY KEY,
  workspace_id text REFERENCES workspaces(id) ON DELETE CASCADE,
  name text NOT NULL,
  token_hash text NOT NULL,
  scope text NOT NULL,
  serving_id text REFERENCES deployments(id) ON DELETE CASCADE,
  created_at bigint NOT NULL,
  revoked_at bigint,
  CONSTRAINT tokens_token_hash_key UNIQUE (token_hash)
);
--> statement-breakpoint
CREATE INDEX tokens_workspace_idx ON tokens (workspace_id);
--> statement-breakpoint
CREATE TABLE schedules (
  id text PRIMARY KEY,
  deployment_id text NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  cron text NOT NULL,
  timezone text NOT NULL,
  starts_at bigint,
  ends_at bigint,
  last_tick_at bigint,
  next_tick_at bigint,
  enabled boolean NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  CONSTRAINT schedules_deployment_id_key UNIQUE (deployment_id)
);
--> statement-breakpoint
CREATE INDEX schedules_due_idx ON schedules (next_tick_at) WHERE enabled;
--> statement-breakpoint
CREATE TABLE runs (
  id text PRIMARY KEY,
  workspace_id text NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  deployment_id text NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  version_id text NOT NULL REFERENCES deployment_versions(id) ON DELETE CASCADE,
  status text NOT NULL,
  args jsonb NOT NULL,
  result jsonb,
  error jsonb,
  attempt integer NOT NULL,
  max_retries integer NOT NULL,
  timeout_ms integer,
  retry_backoff_ms integer NOT NULL,
  trace_id text NOT NULL,
  parent_span_id text,
  traceparent text,
  scheduled_for bigint,
  schedule_id text REFERENCES schedules(id) ON DELETE SET NULL,
  created_at bigint NOT NULL,
  started_at bigint,
  finished_at bigint,
  worker_id text,
  cancel_requested boolean NOT NULL,
  log_seq integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX runs_queue_idx ON runs ((coalesce(scheduled_for, created_at)), id) WHERE status = 'queued';
--> statement-breakpoint
CREATE INDEX runs_workspace_idx ON runs (workspace_id, id);
--> statement-breakpoint
CREATE INDEX runs_deployment_idx ON runs (deployment_id, id);
--> statement-breakpoint
CREATE INDEX runs_running_idx ON runs (worker_id) WHERE status = 'running';
--> statement-breakpoint
CREATE TABLE run_logs (
  id bigserial PRIMARY KEY,
  run_id text NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  seq integer NOT NULL,
  stream text NOT NULL,
  line text NOT NULL,
  ts bigint NOT NULL,
  CONSTRAINT run_logs_seq_uq UNIQUE (run_id, seq)
);
--> statement-breakpoint
CREATE TABLE spans (
  span_id text PRIMARY KEY,
  trace_id text NOT NULL,
  parent_span_id text,
  run_id text,
  serving_id text,
  op text NOT NULL,
  name text NOT NULL,
  "start" double precision NOT NULL,
  "end" double precision NOT NULL,
  status text NOT NULL,
  error jsonb,
  attributes jsonb NOT NULL
);
--> statement-breakpoint
CREATE INDEX spans_trace_idx ON spans (trace_id);
--> statement-breakpoint
CREATE INDEX spans_run_idx ON spans (run_id);
--> statement-breakpoint
CREATE INDEX spans_serving_idx ON spans (serving_id, "start");
--> statement-breakpoint
CREATE TABLE events (
  id text PRIMARY KEY,
  workspace_id text REFERENCES workspaces(id) ON DELETE CASCADE,
  deployment_id text,
  run_id text,
  kind text NOT NULL,
  message text NOT NULL,
  data jsonb,
  ts bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX events_workspace_idx ON events (workspace_id, ts);
--> statement-breakpoint
CREATE INDEX events_deployment_idx ON events (deployment_id, ts);
--> statement-breakpoint
CREATE TABLE servings (
  deployment_id text PRIMARY KEY REFERENCES deployments(id) ON DELETE CASCADE,
  version_id text,
  status text NOT NULL,
  url_path text,
  pid integer,
  worker_id text,
  restarts integer NOT NULL,
  last_error text,
  request_count bigint NOT NULL,
  updated_at bigint NOT NULL
);
`;

// Run leases: a claim holds a run until lease_expires_at, the holder's heartbeat renews it, and any
// node takes back runs whose lease lapsed. Runs already running when this is applied were claimed
// by a build without heartbeats: they get one minute, then count as held by a dead node.
const RUN_LEASES = `
ALTER TABLE runs ADD COLUMN lease_expires_at bigint;
--> statement-breakpoint
UPDATE runs SET lease_expires_at = (extract(epoch from clock_timestamp()) * 1000)::bigint + 60000 WHERE status = 'running';
`;

// Token revocation reaches every platform node: each revoke moves token_epoch on, and nodes drop
// their cached tokens when they see it move. A serving keeps one current token across redeploys;
// its secret is derived from the token id with a key kept here, so any node can hand it out again.
const TOKEN_EPOCH = `
CREATE TABLE token_epoch (
  id integer PRIMARY KEY CHECK (id = 1),
  value bigint NOT NULL
);
--> statement-breakpoint
INSERT INTO token_epoch (id, value) VALUES (1, 0);
--> statement-breakpoint
CREATE TABLE platform_keys (
  name text PRIMARY KEY,
  value text NOT NULL,
  created_at bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX tokens_serving_live_idx ON tokens (serving_id) WHERE revoked_at IS NULL;
`;

// Workers register with the control plane; servings record which one hosts them (servings.worker_id).
const WORKERS = `
CREATE TABLE workers (
  id text PRIMARY KEY,
  name text NOT NULL,
  address text,
  slots integer NOT NULL,
  local boolean NOT NULL,
  token_id text NOT NULL,
  registered_at bigint NOT NULL,
  last_seen_at bigint NOT NULL,
  gone_at bigint
);
--> statement-breakpoint
CREATE INDEX workers_live_idx ON workers (last_seen_at) WHERE gone_at IS NULL;
`;

// Bytes of log a run has kept, for its limit (a run that reached it holds -1).
const RUN_LOG_BYTES = `
ALTER TABLE runs ADD COLUMN log_bytes bigint NOT NULL DEFAULT 0;
`;

// A run's workspace and deployment are those of its version, which references its deployment, which
// references its workspace (deleting either still removes the run, through the version). Checking
// them again for every run inserted cost about a third of an insert.
const RUN_PARENT_KEYS = `
ALTER TABLE runs DROP CONSTRAINT IF EXISTS runs_workspace_id_fkey;
--> statement-breakpoint
ALTER TABLE runs DROP CONSTRAINT IF EXISTS runs_deployment_id_fkey;
`;

// The spans that come with a run's finish are kept in its row (see schema.ts, runs.spans).
const RUN_SPANS = `
ALTER TABLE runs ADD COLUMN IF NOT EXISTS spans jsonb;
`;

// The worker numbers the log lines it reports: a run keeps the highest number applied, and whose
// numbers they were, so a report sent again (its answer was lost) adds no line twice (logs-repo.ts).
const RUN_LOG_MARK = `
ALTER TABLE runs ADD COLUMN IF NOT EXISTS log_mark bigint;
--> statement-breakpoint
ALTER TABLE runs ADD COLUMN IF NOT EXISTS log_mark_worker text;
`;

// How a worker runs user code (sandbox kind and detail), as it said when it registered: kept with
// the worker, so a control plane restarted or another node still shows it.
const WORKER_SANDBOX = `
ALTER TABLE workers ADD COLUMN IF NOT EXISTS sandbox jsonb;
`;

// A run may carry several calls of its job (remote map's short items): how many, null for one.
const RUN_CALLS = `
ALTER TABLE runs ADD COLUMN IF NOT EXISTS calls integer;
`;

/** MIGRATIONS[i] is version i + 1. Append only. */
export const MIGRATIONS: readonly string[] = [V1, RUN_LEASES, TOKEN_EPOCH, WORKERS, RUN_LOG_BYTES, RUN_PARENT_KEYS, RUN_SPANS, RUN_LOG_MARK, WORKER_SANDBOX, RUN_CALLS];

export const LATEST_VERSION = MIGRATIONS.length;

export function splitStatements(migration: string): string[] {
  return migration
    .split(STATEMENT_BREAKPOINT)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export interface MigrateResult {
  /** Versions applied by this call (empty when the schema was already current). */
  applied: number[];
  version: number;
}

/**
 * Bring the schema (of the current `search_path`) up to LATEST_VERSION, in one transaction.
 * A transaction-scoped advisory lock, keyed by schema name, makes two processes starting at
 * once on the same Postgres take turns: the second one sees the versions the first recorded.
 */
export interface MigrateOptions {
  /** How long one statement of a migration may wait for a lock another session holds (default 10 s). */
  lockTimeoutMs?: number;
  /** Tries before giving up on locks held elsewhere (default 5, a growing pause between them). */
  attempts?: number;
}

const MIGRATION_LOCK_TIMEOUT_MS = 10_000;
const MIGRATION_ATTEMPTS = 5;
/** Postgres's code for a lock not taken within `lock_timeout`. */
const LOCK_NOT_AVAILABLE = "55P03";

/**
 * Bring the schema to LATEST_VERSION, in one transaction under an advisory lock (control planes
 * starting together migrate once). A migration that alters a table waits for every session using
 * it, and every statement on that table then queues behind the migration: on a shared Postgres,
 * one long transaction elsewhere would stall the whole cluster. So a migration's statements wait
 * at most `lockTimeoutMs` for their locks, and the migration is tried again a few times before it
 * fails saying what held it up.
 */
export async function migrate(db: Db, now: () => number = Date.now, o: MigrateOptions = {}): Promise<MigrateResult> {
  const lockTimeoutMs = o.lockTimeoutMs ?? MIGRATION_LOCK_TIMEOUT_MS;
  const attempts = o.attempts ?? MIGRATION_ATTEMPTS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrateOnce(db, now, lockTimeoutMs);
    } catch (err) {
      if (!isLockNotAvailable(err)) throw err;
      if (attempt >= attempts) {
        throw new Error(
          `could not update the database schema to version ${LATEST_VERSION}: another session held a table lock it needs for more than ` +
            `${lockTimeoutMs} ms, ${attempts} times (a long transaction, or a control plane of an earlier release busy on the tables). ` +
            `Let it finish or stop it (pg_stat_activity and pg_locks show who holds what), then start again.`,
          { cause: err },
        );
      }
      await sleep(Math.min(5_000, 250 * 2 ** (attempt - 1)));
    }
  }
}

async function migrateOnce(db: Db, now: () => number, lockTimeoutMs: number): Promise<MigrateResult> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext('nbox_migrations:' || current_schema()))`);
    // After the advisory lock: waiting for another control plane's migration is fine.
    await tx.execute(sql.raw(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}`));
    await tx.execute(
      sql`CREATE TABLE IF NOT EXISTS nbox_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)`,
    );
    const res = await tx.execute(sql`SELECT max(version) AS v FROM nbox_migrations`);
    const current = Number(rowsOf<{ v: number | string | null }>(res)[0]?.v ?? 0);
    if (current > LATEST_VERSION) {
      throw new Error(
        `database schema is at version ${current}, newer than this nbox (${LATEST_VERSION}); upgrade nbox`,
      );
    }
    const applied: number[] = [];
    for (let version = current + 1; version <= LATEST_VERSION; version++) {
      for (const stmt of splitStatements(MIGRATIONS[version - 1]!)) await tx.execute(sql.raw(stmt));
      await tx.execute(sql`INSERT INTO nbox_migrations (version, applied_at) VALUES (${version}, ${now()})`);
      applied.push(version);
    }
    return { applied, version: LATEST_VERSION };
  });
}

/** The error (or one it wraps: the ORM wraps the driver's) is Postgres's lock timeout. */
function isLockNotAvailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === LOCK_NOT_AVAILABLE) return true;
  }
  return false;
}

/** `execute` returns `{ rows }` on both drivers; keep the one place that knows it. */
export function rowsOf<T>(res: unknown): T[] {
  return ((res as { rows?: T[] }).rows ?? []) as T[];
}
