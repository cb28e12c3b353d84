// Vacuum and statistics for the embedded store. PGlite runs Postgres as a single backend, so the
// autovacuum a Postgres server runs on its own never runs here. Every run is written three times
// (queued, claimed, finished), so dead row versions would pile up for good (the data folder grows,
// every index over runs with it), and the planner would never get statistics (it then plans the
// claim's queue lookup to walk every index entry ever added).
// A VACUUM costs about as much as the dead rows it clears (a few µs each; nothing to do: ~2 ms), so
// it runs often; ANALYZE reads a sample of every table (~100 ms at 20,000 runs), so it runs when
// the runs changed by a fifth since the last one. Nor is there a checkpointer: without CHECKPOINT the
// write-ahead log grows to max_wal_size (1 GB, some 300,000 runs) before the statement that crosses
// it checkpoints on the spot, and a restart after a crash replays all of it; so a pass checkpoints
// once CHECKPOINT_WAL_BYTES were written since the last (~60 ms). All of these hold PGlite's one
// connection while they run.
// The other tables change little or only grow (logs, spans, events), yet deleting a workspace (no
// route does yet) cascades to its deployments, runs, their logs and its events, rows updated in place
// (a serving's request count, a schedule's ticks) leave dead versions, and every table's rows must be
// frozen by a vacuum before the transaction counter wraps around (~2 billion write transactions). So
// the first pass, and one every TABLES_EVERY_MS after, also vacuums the tables autovacuum would pick.
// Not the whole store: a first vacuum of a large append-only table reads all of it, even with nothing
// to clear.
import { sql } from "drizzle-orm";
import { rowsOf } from "./migrations.ts";
import type { Store } from "./open-store.ts";

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
        const tables = ["runs", "workers"];
        if (this.tablesDue) {
          this.tablesAt = Date.now();
          tables.push(...(await this.othersToVacuum()));
        }
        await this.store.db.execute(sql`vacuum ${sql.join(tables.map((t) => sql.identifier(t)), sql`, `)}`);
        if (this.runsAtAnalyze === undefined || this.sinceAnalyze >= Math.max(ANALYZE_MIN, ANALYZE_SHARE * this.runsAtAnalyze)) {
          this.sinceAnalyze = 0;
          await this.store.db.execute(sql`analyze`);
          this.runsAtAnalyze = await this.runsEstimate();
        }
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

  /** Tables besides runs and workers that autovacuum would vacuum now. */
  private async othersToVacuum(): Promise<string[]> {
    // This backend's counts since its last report reach the statistics at the end of the next statement.
    await this.store.db.execute(sql`select pg_stat_force_next_flush()`);
    const res = await this.store.db.execute(sql`
      select s.relname as name from pg_stat_user_tables s join pg_class c on c.oid = s.relid
      where s.schemaname = current_schema() and s.relname not in ('runs', 'workers')
        and (s.n_dead_tup > ${DEAD_MIN}::float8 + ${DEAD_SHARE}::float8 * s.n_live_tup or age(c.relfrozenxid) > ${this.o.freezeMaxAge ?? FREEZE_MAX_AGE}::int)`);
    return rowsOf<{ name: string }>(res).map((r) => r.name);
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
