// Vacuum and statistics for the embedded store. PGlite runs Postgres as a single backend, so the
// autovacuum a Postgres server runs on its own never runs here. Every run's row is written at least
// twice (queued, finished), its queue row and its hold are inserted and deleted, so dead row versions
// would pile up for good (the data folder grows, every index with it), and the planner would never
// get statistics (it then plans the claim's queue lookup to walk every index entry ever added).
// A VACUUM costs about as much as the dead rows it clears (a few µs each; nothing to do: ~2 ms), so
// it runs often; ANALYZE reads a sample of the table, so the runs' columns that statements filter on
// are analyzed when the runs changed by a fifth since the last time (~35 ms at 20,000 runs; every
// column of every table took ~200 ms, all of it holding the store's one connection). Nor is there a checkpointer: without CHECKPOINT the
// write-ahead log grows to max_wal_size (1 GB, some 300,000 runs) before the statement that crosses
// it checkpoints on the spot, and a restart after a crash replays all of it; so a pass checkpoints
// once CHECKPOINT_WAL_BYTES were written since the last (~60 ms). All of these hold PGlite's one
// connection while they run.
// The other tables change little or only grow (logs, spans, events), yet deleting a workspace (no
// route does yet) cascades to its deployments, runs, their logs and its events, rows updated in place
// (a serving's request count, a schedule's ticks) leave dead versions, and every table's rows must be
// frozen by a vacuum before the transaction counter wraps around (~2 billion write transactions). So
// the first pass, and one every TABLES_EVERY_MS after, also vacuums and analyzes the tables
// autovacuum would pick. Not the whole store: a first vacuum of a large append-only table reads all
// of it, even with nothing to clear. The steps of a pass are separate statements with other work let
// in between them.
import { sql } from "drizzle-orm";
import { rowsOf } from "./migrations.ts";
import type { Store } from "./open-store.ts";
import { nextTurn } from "../../lib/pause.ts";

const CHECK_EVERY_MS = 5_000;
/** Vacuum once this many runs finished since the last pass, or after AT_LEAST_EVERY_MS if any did. */
const AFTER_FINISHED = 5_000;
const AT_LEAST_EVERY_MS = 30_000;
/** Analyze again once this share of the runs (as of the last analyze) changed, and at least this many. */
const ANALYZE_SHARE = 0.2;
const ANALYZE_MIN = 5_000;
const CHECKPOINT_WAL_BYTES = 64 * 1024 * 1024;
/** How often a pass looks at the statistics of the other tables (a query of ~1 ms). */
const TABLES_EVERY_MS = 10 * 60_000;
// Autovacuum's rule, with Postgres's defaults: dead rows over 50 + 20% of the live ones, or rows
// left unfrozen for 200 million transactions.
const DEAD_MIN = 50;
const DEAD_SHARE = 0.2;
const FREEZE_MAX_AGE = 200_000_000;
// ...and analyze: rows changed since the last over 50 + 10% of the live ones.
const CHANGED_MIN = 50;
const CHANGED_SHARE = 0.1;
/** The runs' columns statements look runs up by (the planner's statistics are about these). */
const RUNS_PLANNED_COLUMNS = ["id", "workspace_id", "deployment_id", "version_id", "status", "created_at", "schedule_id", "trace_id"];

const identifiers = (names: string[]) => sql.join(names.map((n) => sql.identifier(n)), sql`, `);

export class StoreUpkeep {
  private finished = 0;
  private sinceAnalyze = 0;
  private runsAtAnalyze: number | undefined;
  /** Write-ahead log position (bytes) at the last checkpoint. */
  private walAtCheckpoint: number | undefined;
  private lastAt = Date.now();
  /** When a pass last looked at the other tables (0: not yet). */
  private tablesAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly o: { checkpointWalBytes?: number; tablesEveryMs?: number; freezeMaxAge?: number } = {},
  ) {}

  /** Count finished runs (what makes a pass worth it). */
  readonly noteFinished = (n = 1): void => {
    this.finished += n;
    this.sinceAnalyze += n;
  };

  /** Enough runs finished since the last pass, or some and long enough ago. */
  get due(): boolean {
    return this.finished >= AFTER_FINISHED || (this.finished > 0 && Date.now() - this.lastAt >= AT_LEAST_EVERY_MS);
  }

  /** Whether the next pass looks at the other tables too. */
  private get tablesDue(): boolean {
    return Date.now() - this.tablesAt >= (this.o.tablesEveryMs ?? TABLES_EVERY_MS);
  }

  start(): void {
    this.timer = setInterval(() => (this.due || this.tablesDue) && void this.pass(), CHECK_EVERY_MS).unref();
  }

  /**
   * Vacuum the tables runs churn (and, when due, the others autovacuum would pick), and analyze when
   * due (a pass under way is joined). Never throws: upkeep must not take the platform down.
   */
  pass(): Promise<void> {
    return (this.running ??= (async () => {
      this.finished = 0;
      this.lastAt = Date.now();
      try {
        const tables = ["runs", "run_queue", "run_holds", "workers"];
        let others: string[] = [];
        if (this.tablesDue) {
          const first = this.tablesAt === 0;
          this.tablesAt = Date.now();
          const due = await this.othersDue(first);
          tables.push(...due.vacuum);
          others = due.analyze;
        }
        await this.store.db.execute(sql`vacuum ${identifiers(tables)}`);
        if (this.runsAtAnalyze === undefined || this.sinceAnalyze >= Math.max(ANALYZE_MIN, ANALYZE_SHARE * this.runsAtAnalyze)) {
          this.sinceAnalyze = 0;
          await nextTurn();
          await this.store.db.execute(sql`analyze runs (${identifiers(RUNS_PLANNED_COLUMNS)})`);
          await this.store.db.execute(sql`analyze run_queue, run_holds`);
          this.runsAtAnalyze = await this.runsEstimate();
        }
        if (others.length > 0) {
          await nextTurn();
          await this.store.db.execute(sql`analyze ${identifiers(others)}`);
        }
        await nextTurn();
        const wal = await this.walPosition();
        if (wal - (this.walAtCheckpoint ?? 0) >= (this.o.checkpointWalBytes ?? CHECKPOINT_WAL_BYTES)) {
          await this.store.db.execute(sql`checkpoint`);
          this.walAtCheckpoint = wal;
        }
      } catch (err) {
        console.error("[nbox store] vacuum failed:", err);
      } finally {
        this.running = undefined;
      }
    })());
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /**
   * Tables besides runs, run_queue, run_holds and workers that autovacuum would vacuum, and those it would analyze, now.
   * The change counters start from zero at every start of the store, so a first pass also analyzes
   * tables holding rows that were never analyzed (a platform restarted more often than the tables
   * pass runs would otherwise never give them statistics).
   */
  private async othersDue(first: boolean): Promise<{ vacuum: string[]; analyze: string[] }> {
    // This backend's counts since its last report reach the statistics at the end of the next statement.
    await this.store.db.execute(sql`select pg_stat_force_next_flush()`);
    const res = await this.store.db.execute(sql`
      select s.relname as name,
        (s.n_dead_tup > ${DEAD_MIN}::float8 + ${DEAD_SHARE}::float8 * s.n_live_tup or age(c.relfrozenxid) > ${this.o.freezeMaxAge ?? FREEZE_MAX_AGE}::int) as vacuum,
        (s.n_mod_since_analyze > ${CHANGED_MIN}::float8 + ${CHANGED_SHARE}::float8 * s.n_live_tup
          or (${first}::boolean and c.reltuples <> 0 and not exists (select 1 from pg_statistic st where st.starelid = c.oid))) as analyze
      from pg_stat_user_tables s join pg_class c on c.oid = s.relid
      where s.schemaname = current_schema() and s.relname not in ('runs', 'run_queue', 'run_holds')`);
    const rows = rowsOf<{ name: string; vacuum: boolean; analyze: boolean }>(res);
    // Workers (like runs and their queue) are vacuumed at every pass anyway.
    return { vacuum: rows.filter((r) => r.vacuum && r.name !== "workers").map((r) => r.name), analyze: rows.filter((r) => r.analyze).map((r) => r.name) };
  }

  private async walPosition(): Promise<number> {
    const res = await this.store.db.execute(sql`select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 as n`);
    return Number(rowsOf<{ n: number }>(res)[0]?.n ?? 0);
  }

  private async runsEstimate(): Promise<number> {
    const res = await this.store.db.execute(sql`select reltuples from pg_class where relname = 'runs'`);
    return Math.max(0, Number(rowsOf<{ reltuples: number }>(res)[0]?.reltuples ?? 0));
  }
}
