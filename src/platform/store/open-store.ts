import path from "node:path";
import type { Db, RepoContext, StoreKind } from "./db.ts";
import { postgresOpenError } from "./postgres-open-error.ts";
import { STORE_DEFAULTS } from "./defaults.ts";
import { lockDataDir } from "./data-dir-lock.ts";
import { seedPgdata } from "./pglite-template.ts";
import { createDeploymentsRepo, type DeploymentsRepo } from "./deployments-repo.ts";
import { createEventsRepo, type EventsRepo } from "./events-repo.ts";
import { createLogsRepo, type LogsRepo } from "./logs-repo.ts";
import { migrate, type MigrateResult } from "./migrations.ts";
import { createRetentionRepo, type RetentionRepo } from "./retention-repo.ts";
import { createRunsRepo, type RunsRepo } from "./runs-repo.ts";
import { createSchedulesRepo, type SchedulesRepo } from "./schedules-repo.ts";
import { schema } from "./schema.ts";
import { createServingsRepo, type ServingsRepo } from "./servings-repo.ts";
import { createSpansRepo, type SpansRepo } from "./spans-repo.ts";
import { createTokensRepo, type TokensRepo } from "./tokens-repo.ts";
import { createWorkersRepo, type WorkersRepo } from "./workers-repo.ts";
import { createWorkspacesRepo, type WorkspacesRepo } from "./workspaces-repo.ts";

interface CommonOptions {
  /** Clock in epoch ms (default Date.now); every timestamp the store writes comes from it. */
  now?: () => number;
  /** Apply migrations on open (default true). */
  migrate?: boolean;
  /** Hears every statement the store sends, with its parameters (tests read the planner's plans). */
  onQuery?: (query: string, params: unknown[]) => void;
}

export type OpenStoreOptions =
  | (CommonOptions & {
      /** Embedded: PGlite in `<dataDir>/pgdata`. */
      dataDir: string;
    })
  | (CommonOptions & {
      /** `postgres://…`; add `?options=-c%20search_path%3Dmy_schema` to use another schema. */
      databaseUrl: string;
      /** node-postgres pool size (default STORE_DEFAULTS.poolSize). */
      poolSize?: number;
    });

/** Every repository function, flat (`store.createRun`, `store.verifyToken`, …). */
export interface StoreRepos
  extends WorkspacesRepo,
    TokensRepo,
    DeploymentsRepo,
    RunsRepo,
    LogsRepo,
    SpansRepo,
    SchedulesRepo,
    EventsRepo,
    ServingsRepo,
    WorkersRepo,
    RetentionRepo {}

export interface Store extends StoreRepos {
  /** drizzle over `schema` (import tables from ./schema.ts) for queries the repos do not cover. */
  readonly db: Db;
  readonly kind: StoreKind;
  /** What migrate did on open. */
  readonly migration: MigrateResult | null;
  now(): number;
  /**
   * Run several repository calls atomically: `fn` gets the same functions bound to one transaction
   * (e.g. `markTick` + `createRun`). Throwing rolls everything back. Keep it short: on PGlite it
   * holds the only connection.
   */
  transaction<T>(fn: (tx: StoreRepos) => Promise<T>): Promise<T>;
  /** Idempotent. */
  close(): Promise<void>;
}

/** Open (and migrate) the platform store: PGlite for `{ dataDir }`, node-postgres for `{ databaseUrl }`. */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  const now = opts.now ?? Date.now;
  const { db, kind, closeDriver } = "dataDir" in opts ? await openPglite(opts.dataDir, opts.onQuery) : await openPostgres(opts.databaseUrl, opts.poolSize, opts.onQuery);
  let migration: MigrateResult | null = null;
  try {
    if (opts.migrate ?? true) migration = await migrate(db, now);
  } catch (err) {
    await closeDriver();
    throw "databaseUrl" in opts ? postgresOpenError(err, opts.databaseUrl) : err;
  }
  const ctx: RepoContext = { db, kind, now };
  let closing: Promise<void> | undefined;
  return {
    ...createRepos(ctx),
    transaction: (fn) => db.transaction((tx) => fn(createRepos({ ...ctx, db: tx }))),
    db,
    kind,
    migration,
    now,
    close: () => (closing ??= closeDriver()),
  };
}

function createRepos(ctx: RepoContext): StoreRepos {
  return {
    ...createWorkspacesRepo(ctx),
    ...createTokensRepo(ctx),
    ...createDeploymentsRepo(ctx),
    ...createRunsRepo(ctx),
    ...createLogsRepo(ctx),
    ...createSpansRepo(ctx),
    ...createSchedulesRepo(ctx),
    ...createEventsRepo(ctx),
    ...createServingsRepo(ctx),
    ...createWorkersRepo(ctx),
    ...createRetentionRepo(ctx),
  };
}

interface Driver {
  db: Db;
  kind: StoreKind;
  closeDriver(): Promise<void>;
}

/** drizzle's logger option: every statement to `onQuery`, if given. */
const queryLogger = (onQuery?: CommonOptions["onQuery"]) => (onQuery ? { logger: { logQuery: onQuery } } : {});

async function openPglite(dataDir: string, onQuery?: CommonOptions["onQuery"]): Promise<Driver> {
  // Imported lazily so a Postgres deployment never loads the wasm build, and vice versa.
  const [{ PGlite }, { drizzle }, { openPgliteThread }] = await Promise.all([
    import("@electric-sql/pglite"),
    import("drizzle-orm/pglite"),
    import("./pglite-thread-client.ts"),
  ]);
  const release = await lockDataDir(dataDir);
  try {
    await seedPgdata(path.join(dataDir, "pgdata"), PGlite);
    const client = await openPgliteThread(path.join(dataDir, "pgdata"));
    // drizzle's PGlite driver calls only `query` and `transaction`, which the thread's client has.
    const db = drizzle({ client: client as unknown as InstanceType<typeof PGlite>, schema, ...queryLogger(onQuery) }) as unknown as Db;
    return {
      db,
      kind: "pglite",
      async closeDriver() {
        try {
          await client.close();
        } finally {
          await release();
        }
      },
    };
  } catch (err) {
    await release();
    throw err;
  }
}

async function openPostgres(databaseUrl: string, poolSize?: number, onQuery?: CommonOptions["onQuery"]): Promise<Driver> {
  const [{ default: pg }, { drizzle }] = await Promise.all([import("pg"), import("drizzle-orm/node-postgres")]);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize ?? STORE_DEFAULTS.poolSize });
  // An idle client that loses its connection emits on the pool; without a listener that kills the process.
  pool.on("error", () => {});
  const db = drizzle({ client: pool, schema, ...queryLogger(onQuery) }) as unknown as Db;
  return { db, kind: "postgres", closeDriver: () => pool.end() };
}
