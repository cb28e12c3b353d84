// The embedded store has no autovacuum (PGlite is a single backend): the platform vacuums what runs
// churn and keeps the planner's statistics, when enough runs finished, and now and then the other
// tables autovacuum would pick; a failing pass is logged, never thrown.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sql } from "drizzle-orm";
import { rowsOf } from "../../../src/platform/store/migrations.ts";
import { openStore, type Store } from "../../../src/platform/store/index.ts";
import { StoreUpkeep } from "../../../src/platform/store/upkeep.ts";

describe("embedded store upkeep", () => {
  let dir: string;
  let store: Store;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "nbox-upkeep-"));
    store = await openStore({ dataDir: dir });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // The queue's rows are inserted, claimed and deleted for every run: without vacuum their dead versions
  // (and index entries) would pile up for good. (A run's own row is written twice, its finish mostly on
  // its page: runs' pages are half-filled at insert, which vacuum does not change.)
  const size = async () => Number(rowsOf<{ n: string }>(await store.db.execute(sql`select pg_total_relation_size('run_queue') as n`))[0]!.n);
  const analyzed = async () => Number(rowsOf<{ n: number }>(await store.db.execute(sql`select reltuples as n from pg_class where relname = 'runs'`))[0]!.n);

  it("passes let new runs reuse the space of dead row versions, and give the planner statistics", async () => {
    const ws = await store.ensureWorkspace("upkeep");
    const { deployment, version } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name: "job", type: "job", kind: "fn", contentHash: "h-upkeep", lockfileHash: null, manifest: {}, bundleBytes: 1 });
    const cycle = async () => {
      await store.createRuns(Array.from({ length: 400 }, (_, i) => ({ workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args: [i] })));
      const claimed = await store.claimNextRuns("w1", 400);
      await store.finishRuns(claimed.map((r) => ({ id: r.id, status: "succeeded" as const, result: 1 })));
    };
    const upkeep = new StoreUpkeep(store);
    await cycle();
    assert.equal(await analyzed(), -1, "never analyzed");
    let s0 = await size();
    for (let i = 0; i < 3; i++) await cycle();
    const without = (await size()) - s0;

    assert.equal(upkeep.due, false, "nothing counted yet");
    upkeep.noteFinished(5_000);
    assert.equal(upkeep.due, true, "due after many finished runs");
    await upkeep.pass();
    assert.equal(upkeep.due, false);
    assert.equal(await analyzed(), 1_600, "analyzed: the planner knows the table");
    s0 = await size();
    for (let i = 0; i < 3; i++) {
      await cycle();
      await upkeep.pass();
    }
    const withPasses = (await size()) - s0;
    assert.ok(withPasses < without / 2, `the table grew by ${withPasses} bytes with passes against ${without} without`);
    await upkeep.stop();
  });

  it("a pass checkpoints once enough write-ahead log was written since the last (PGlite has no checkpointer)", async () => {
    const checkpointAt = async () => rowsOf<{ lsn: string }>(await store.db.execute(sql`select checkpoint_lsn::text as lsn from pg_control_checkpoint()`))[0]!.lsn;
    const upkeep = new StoreUpkeep(store, { checkpointWalBytes: 256 * 1024 });
    const before = await checkpointAt();
    await upkeep.pass();
    const first = await checkpointAt();
    assert.notEqual(first, before, "checkpointed");
    await upkeep.pass();
    assert.equal(await checkpointAt(), first, "little written since: no checkpoint");
    const ws = await store.ensureWorkspace("upkeep-wal");
    const { deployment, version } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name: "job", type: "job", kind: "fn", contentHash: "h-upkeep-wal", lockfileHash: null, manifest: {}, bundleBytes: 1 });
    await store.createRuns(Array.from({ length: 500 }, (_, i) => ({ workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args: [i] })));
    await upkeep.pass();
    assert.notEqual(await checkpointAt(), first, "written since: checkpointed again");
  });

  /** Per table: dead rows and vacuums so far (this backend's latest counts flushed first). */
  const tableStats = async () => {
    await store.db.execute(sql`select pg_stat_force_next_flush()`);
    const rows = rowsOf<{ name: string; dead: string; vacuums: string }>(await store.db.execute(sql`select relname as name, n_dead_tup as dead, vacuum_count as vacuums from pg_stat_user_tables`));
    return Object.fromEntries(rows.map((r) => [r.name, { dead: Number(r.dead), vacuums: Number(r.vacuums) }]));
  };

  it("a pass also vacuums the other tables autovacuum would pick: a deleted workspace's logs and events", async () => {
    const ws = await store.ensureWorkspace("upkeep-gone");
    const { deployment, version } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name: "job", type: "job", kind: "fn", contentHash: "h-upkeep-gone", lockfileHash: null, manifest: {}, bundleBytes: 1 });
    const runs = await store.createRuns(Array.from({ length: 100 }, (_, i) => ({ workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args: [i] })));
    for (const r of runs) await store.appendLogs(r.id, [{ line: "one" }, { line: "two" }]);
    for (let i = 0; i < 100; i++) await store.addEvent({ workspaceId: ws.id, kind: "deployment.updated", message: `event ${i}` });
    const upkeep = new StoreUpkeep(store, { tablesEveryMs: 0 });
    await upkeep.pass();
    const before = await tableStats();

    await store.db.execute(sql`delete from workspaces where id = ${ws.id}`);
    const deleted = await tableStats();
    assert.ok(deleted.run_logs!.dead >= 200 && deleted.events!.dead >= 100, `the cascade left dead rows: ${JSON.stringify(deleted)}`);
    await upkeep.pass();
    const after = await tableStats();
    for (const t of ["run_logs", "events"]) {
      assert.equal(after[t]!.dead, 0, `${t}: dead rows cleared`);
      assert.equal(after[t]!.vacuums, before[t]!.vacuums + 1, `${t} vacuumed`);
    }
    assert.equal(after.spans!.vacuums, before.spans!.vacuums, "nothing dead in spans: not vacuumed");
    await upkeep.stop();
  });

  it("a pass vacuums the tables whose rows are left unfrozen too long (before the transaction counter wraps)", async () => {
    const before = await tableStats();
    await new StoreUpkeep(store, { freezeMaxAge: 0 }).pass();
    const after = await tableStats();
    for (const t of ["spans", "tokens", "schedules"]) assert.equal(after[t]!.vacuums, before[t]!.vacuums + 1, `${t} vacuumed`);
  });

  it("the runs' statistics cover the columns statements look runs up by, not their payloads; other changed tables are analyzed in the tables pass", async () => {
    const columns = async (table: string) => rowsOf<{ name: string }>(await store.db.execute(sql`select attname as name from pg_stats where schemaname = current_schema() and tablename = ${table}`)).map((r) => r.name);
    const analyzeCount = async (table: string) => Number(rowsOf<{ n: string }>(await store.db.execute(sql`select analyze_count as n from pg_stat_user_tables where relname = ${table}`))[0]!.n);
    const ws = await store.ensureWorkspace("upkeep-stats");
    const { deployment, version } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name: "job", type: "job", kind: "fn", contentHash: "h-upkeep-stats", lockfileHash: null, manifest: {}, bundleBytes: 1 });
    const runs = await store.createRuns(Array.from({ length: 200 }, (_, i) => ({ workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args: [{ big: "x".repeat(100), i }] })));
    for (const r of runs.slice(0, 100)) await store.addEvent({ workspaceId: ws.id, kind: "deployment.updated", message: `event for ${r.id}` });
    await store.db.execute(sql`select pg_stat_force_next_flush()`);
    const eventsBefore = await analyzeCount("events");
    const upkeep = new StoreUpkeep(store, { tablesEveryMs: 0 });
    upkeep.noteFinished(1_000_000);
    await upkeep.pass();
    const runColumns = await columns("runs");
    for (const c of ["status", "deployment_id", "workspace_id", "created_at"]) assert.ok(runColumns.includes(c), `runs.${c} has statistics (${runColumns.join(", ")})`);
    for (const c of ["position", "deployment_id"]) assert.ok((await columns("run_queue")).includes(c), `run_queue.${c} has statistics`);
    for (const c of ["args", "result", "error"]) assert.ok(!runColumns.includes(c), `runs.${c} is not sampled`);
    await store.db.execute(sql`select pg_stat_force_next_flush()`);
    assert.equal(await analyzeCount("events"), eventsBefore + 1, "events changed enough: analyzed");
    await upkeep.pass();
    await store.db.execute(sql`select pg_stat_force_next_flush()`);
    assert.equal(await analyzeCount("events"), eventsBefore + 1, "unchanged since: not analyzed again");
    await upkeep.stop();
  });

  it("after a restart (change counters start from zero), the first pass analyzes tables with rows and no statistics", async () => {
    const dir2 = mkdtempSync(join(tmpdir(), "nbox-upkeep-restart-"));
    try {
      let s2 = await openStore({ dataDir: dir2 });
      const ws = await s2.ensureWorkspace("restart");
      for (let i = 0; i < 30; i++) await s2.addEvent({ workspaceId: ws.id, kind: "deployment.updated", message: `event ${i}` });
      await s2.close();
      s2 = await openStore({ dataDir: dir2 });
      const statsRows = async () => Number(rowsOf<{ n: string }>(await s2.db.execute(sql`select count(*) as n from pg_stats where schemaname = current_schema() and tablename = 'events'`))[0]!.n);
      assert.equal(await statsRows(), 0, "never analyzed");
      await new StoreUpkeep(s2).pass(); // 30 changed rows would not reach autovacuum's rule, and the counters restarted anyway
      assert.ok((await statsRows()) > 0, "the first pass gave events statistics");
      await s2.close();
    } finally {
      rmSync(dir2, { recursive: true, force: true });
    }
  });

  it("a failing pass is logged, not thrown", async () => {
    const broken = { db: { execute: async () => Promise.reject(new Error("the store went away")) } } as unknown as Store;
    const lines: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
    try {
      await new StoreUpkeep(broken).pass();
    } finally {
      console.error = original;
    }
    assert.match(lines.join("\n"), /vacuum failed.*the store went away/);
  });
});
