// The embedded store runs repeated statements as named prepared statements: one per SQL text,
// a bounded number of them, parsed again after a table changes shape, with the same results,
// errors and locking as PGlite's own `query`.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import { rowsOf } from "../../../src/platform/store/migrations.ts";
import { openStore, type Store } from "../../../src/platform/store/index.ts";
import { usePreparedStatements } from "../../../src/platform/store/pglite-prepared.ts";

const preparedTexts = async (client: PGlite) =>
  (await client.exec("select statement from pg_prepared_statements where name like 'nbox_s%' order by name"))[0]!.rows.map((r) => (r as { statement: string }).statement);

describe("prepared statements on PGlite", () => {
  let client: PGlite;
  before(async () => {
    client = new PGlite();
    await client.waitReady;
    usePreparedStatements(client, 3);
    await client.exec("create table t (id int primary key, v jsonb, n bigint)");
  });
  after(() => client.close());

  it("prepares each SQL text once and serialises parameters by the types the backend inferred", async () => {
    for (let i = 1; i <= 4; i++) await client.query("insert into t (id, v, n) values ($1, $2, $3)", [i, { k: [i, "x"] }, 10n ** 12n + BigInt(i)]);
    const got = await client.query<{ id: number; v: unknown; n: number }>("select id, v, n from t where id = $1", [3]);
    assert.deepEqual(got.rows, [{ id: 3, v: { k: [3, "x"] }, n: 1_000_000_000_003 }]);
    const arr = await client.query<[number]>("select id from t where id = any($1) order by id", [[2, 4]], { rowMode: "array" });
    assert.deepEqual(arr.rows, [[2], [4]]);
    assert.equal((await preparedTexts(client)).filter((s) => s.startsWith("insert into t")).length, 1, "four inserts, one statement");
  });

  it("keeps at most its bound of statements, closing the least recently used", async () => {
    for (let i = 0; i < 6; i++) await client.query(`select ${i}::int as k, count(*) from t`);
    const texts = await preparedTexts(client);
    assert.equal(texts.length, 3);
    assert.deepEqual(texts, ["select 3::int as k, count(*) from t", "select 4::int as k, count(*) from t", "select 5::int as k, count(*) from t"]);
  });

  it("parses a statement again when its table changed shape under it", async () => {
    const text = "select * from t where id = $1";
    assert.deepEqual(Object.keys((await client.query(text, [1])).rows[0]!), ["id", "v", "n"]);
    await client.exec("alter table t add column extra text default 'e'");
    const after = await client.query<Record<string, unknown>>(text, [1]);
    assert.deepEqual(Object.keys(after.rows[0]!), ["id", "v", "n", "extra"]);
    assert.equal(after.rows[0]!.extra, "e");
  });

  it("reports database errors with their code and the statement, and stays usable", async () => {
    await assert.rejects(client.query("insert into t (id) values ($1)", [1]), (err: Error & { code?: string; query?: string; params?: unknown[] }) => {
      assert.equal(err.code, "23505");
      assert.equal(err.query, "insert into t (id) values ($1)");
      assert.deepEqual(err.params, [1]);
      return true;
    });
    await assert.rejects(client.query("selec nothing"), /syntax error/);
    assert.equal((await client.query<{ c: number }>("select count(*)::int as c from t")).rows[0]!.c, 4);
  });

  it("waits for a transaction in progress, like PGlite's own query", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const tx = client.transaction(async (t) => {
      await t.query("insert into t (id) values (100)");
      await held;
    });
    const count = client.query<{ c: number }>("select count(*)::int as c from t");
    await new Promise((r) => setTimeout(r, 30));
    release();
    await tx;
    assert.equal((await count).rows[0]!.c, 5, "the query ran after the commit, not inside the transaction");
  });
});

describe("the embedded store uses them", () => {
  let dir: string;
  let store: Store;
  const statements: string[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "nbox-prepared-"));
    store = await openStore({ dataDir: dir, onQuery: (text) => statements.push(text) });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a run's create, claim and finish are prepared statements, reused by the next run", async () => {
    const ws = await store.ensureWorkspace("prep");
    const { deployment, version } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name: "f", type: "job", kind: "fn", contentHash: "h", manifest: {}, bundleBytes: 1 });
    const cycle = async (i: number) => {
      await store.createRuns([{ workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args: { v: 1, value: [i] } }]);
      const [run] = await store.claimNextRuns("w1", 1);
      assert.ok(run);
      assert.equal((await store.finishRuns([{ id: run.id, status: "succeeded", result: { v: 1, value: i }, workerId: "w1" }])).length, 1);
    };
    const count = async () => Number(rowsOf<{ n: string }>(await store.db.execute(sql`select count(*) as n from pg_prepared_statements where name like 'nbox_s%'`))[0]!.n);
    await cycle(1);
    const afterOne = await count();
    assert.ok(afterOne >= 4, `create, claim, finish and this count prepared (${afterOne})`);
    for (let i = 2; i <= 5; i++) await cycle(i);
    assert.equal(await count(), afterOne, "later runs reuse them");
  });

  it("a claim's generic plan finds the next queued run through the queue's partial index", async () => {
    const ws = await store.ensureWorkspace("plan");
    const { deployment, version } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name: "g", type: "job", kind: "fn", contentHash: "h2", manifest: {}, bundleBytes: 1 });
    const input = { workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args: { v: 1, value: [] } };
    // Statistics taken while the queue was empty (as a platform's upkeep may), then many queued runs
    // and held ones beside them: the claim must still walk the queue in order, not read it all and sort.
    await store.db.execute(sql`analyze runs, run_queue, run_holds`);
    const queued = await store.createRuns(Array.from({ length: 3000 }, () => input));
    await store.claimRuns(queued.slice(0, 1500).map((r) => r.id), "w1");
    statements.length = 0;
    assert.equal((await store.claimNextRuns("w2", 1)).length, 1);
    const claim = statements.find((s) => /delete from "run_queue"/.test(s) && /order by "run_queue"."position"/.test(s));
    assert.ok(claim, "the claim statement was seen");
    // The plan a prepared statement falls back to once Postgres stops planning it per call.
    // (simple protocol: an EXPLAIN of a statement with unbound $n placeholders cannot be prepared)
    const client = (store.db as unknown as { $client: Pick<PGlite, "exec"> }).$client;
    const [res] = await client.exec(`explain (generic_plan) ${claim}`);
    const plan = res!.rows.map((r) => (r as { "QUERY PLAN": string })["QUERY PLAN"]).join("\n");
    assert.match(plan, /Index Scan using run_queue_next_idx/, plan);
    assert.doesNotMatch(plan, /Sort|Bitmap/, plan);
  });
});
