// The embedded store runs PGlite on a thread of its own: the control plane's thread keeps running
// while a statement executes, and errors, transactions and the end of the thread behave as they
// did with PGlite on the calling thread.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { openStore, type Store } from "../../../src/platform/store/index.ts";
import { openPgliteThread, type ThreadOptions } from "../../../src/platform/store/pglite-thread-client.ts";
import { startStoreThread } from "../../../src/platform/store/pglite-thread-handle.ts";
import { STORE_STOPPED } from "../../../src/platform/store/pglite-wire.ts";
import { isStoreUnavailable } from "../../../src/platform/store/unavailable.ts";
import { rowsOf } from "../../../src/platform/store/migrations.ts";

describe("the embedded store's thread", () => {
  let dir: string;
  let store: Store;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "nbox-store-thread-"));
    store = await openStore({ dataDir: dir });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the calling thread keeps running while a statement executes", async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    try {
      await store.db.execute(sql`select pg_sleep(0.3)`);
    } finally {
      clearInterval(timer);
    }
    // On the calling thread the wasm backend would hold it for the whole statement: no tick at all.
    assert.ok(ticks > 0, "timers fired while the statement ran");
  });

  it("a database error keeps its SQLSTATE and fields across the thread", async () => {
    await store.ensureWorkspace("dup");
    const err = await store.db.execute(sql`insert into workspaces (id, name, created_at) select id, name, created_at from workspaces where name = 'dup'`).then(
      () => undefined,
      (e: unknown) => e,
    );
    const cause = (err as { cause?: { code?: string; constraint?: string } } | undefined)?.cause;
    assert.equal(cause?.code, "23505", `a unique violation: ${String(err)}`);
    assert.ok(cause?.constraint, "the constraint's name came along");
  });

  it("a transaction that throws is rolled back; one that returns is committed", async () => {
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.ensureWorkspace("rolled-back");
        throw new Error("changed my mind");
      }),
      /changed my mind/,
    );
    const names = async () => rowsOf<{ name: string }>(await store.db.execute(sql`select name from workspaces where name in ('rolled-back', 'kept')`)).map((r) => r.name);
    assert.deepEqual(await names(), []);
    await store.transaction(async (tx) => void (await tx.ensureWorkspace("kept")));
    assert.deepEqual(await names(), ["kept"]);
  });

  it("statements after close are refused as a store that cannot be reached", async () => {
    const d = mkdtempSync(join(tmpdir(), "nbox-store-thread-closed-"));
    try {
      const s = await openStore({ dataDir: d });
      await s.close();
      const err = await s.db.execute(sql`select 1`).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err, "the statement failed");
      assert.ok(isStoreUnavailable(err), `unavailable, not a bug: ${String(err)}`);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("a parser that changes values is refused (functions cannot cross to the thread)", async () => {
    const d = mkdtempSync(join(tmpdir(), "nbox-store-thread-parsers-"));
    const s = await openStore({ dataDir: d });
    await s.close(); // leaves pgdata initialised for the raw client below
    const client = await openPgliteThread(join(d, "pgdata"));
    try {
      await assert.rejects(client.query("select 1 as n", [], { parsers: { 23: (v: string) => Number(v) * 2 } }), /only takes parsers that keep the text/);
      assert.deepEqual((await client.query<{ n: number }>("select 1 as n")).rows, [{ n: 1 }]);
    } finally {
      await client.close();
      rmSync(d, { recursive: true, force: true });
    }
    await assert.rejects(client.query("select 1"), (e: { code?: string }) => e.code === STORE_STOPPED);
  });

  /** A raw thread client on a fresh, initialised data folder; what it printed on stderr. */
  async function withThread(body: (client: Awaited<ReturnType<typeof openPgliteThread>>, logged: string[], pgdata: string) => Promise<void>, o: ThreadOptions = {}) {
    const d = mkdtempSync(join(tmpdir(), "nbox-store-thread-restart-"));
    const s = await openStore({ dataDir: d });
    await s.close(); // leaves pgdata initialised for the raw client below
    const client = await openPgliteThread(join(d, "pgdata"), o);
    const logged: string[] = [];
    const error = console.error;
    console.error = (...a: unknown[]) => void logged.push(a.join(" "));
    try {
      await body(client, logged, join(d, "pgdata"));
    } finally {
      console.error = error;
      await client.close();
      rmSync(d, { recursive: true, force: true });
    }
  }
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e,
    );

  it("a thread that ends unasked is started again: statements under way fail as unavailable, later ones work, committed data is kept", () =>
    withThread(async (client, logged) => {
      await client.exec("create table kept (n int); insert into kept values (1)");
      const dying = client.thread;
      const underWay = client.query("select pg_sleep(5)");
      // What a WebAssembly abort does to it: the thread is gone, mid-statement.
      await dying.terminate();
      const err = await failure(underWay);
      assert.ok(isStoreUnavailable(err), `the statement under way failed as unavailable (503), not as a bug: ${String(err)}`);
      assert.deepEqual((await client.query<{ n: number }>("select n from kept")).rows, [{ n: 1 }], "a statement after it ran on a new thread; committed rows are there");
      assert.notEqual(client.thread, dying);
      await client.transaction(async (tx) => void (await tx.query("insert into kept values (2)")));
      assert.deepEqual((await client.query<{ n: number }>("select n from kept order by n")).rows, [{ n: 1 }, { n: 2 }]);
      assert.ok(logged.some((l) => /store's thread .*starting it again/.test(l)), `whoever runs the platform hears of it: ${logged.join(" | ")}`);
    }));

  it("a thread that keeps dying is left stopped after a few restarts: statements fail as unavailable, never hang", () =>
    withThread(async (client, logged) => {
      for (let i = 0; i < 6; i++) {
        await client.query("select 1");
        await client.thread.terminate();
      }
      const err = await failure(client.query("select 1"));
      assert.ok(isStoreUnavailable(err), `unavailable: ${String(err)}`);
      assert.equal(logged.filter((l) => /starting it again/.test(l)).length, 5);
      assert.ok(logged.some((l) => /until the platform is restarted/.test(l)), logged.join(" | "));
    }));

  /** The rows of table `kept` once statements work again (the last failure after 10 s). */
  async function keptOnceBack(client: Awaited<ReturnType<typeof openPgliteThread>>): Promise<unknown> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const rows = await client.query<{ n: number }>("select n from kept").then((r) => r.rows, (e: unknown) => e);
      if (Array.isArray(rows) || Date.now() > deadline) return rows;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it("a restart that fails is tried again later: statements fail as unavailable meanwhile, then work on the new thread", async () => {
    let starts = 0;
    let failing = 0;
    // The first start works; the next `failing` ones fail as a start can (out of memory, say).
    const startThread: typeof startStoreThread = (pgdata, onEnd) => (++starts > 1 && failing-- > 0 ? Promise.reject(new Error("no memory for the thread")) : startStoreThread(pgdata, onEnd));
    await withThread(
      async (client, logged) => {
        await client.exec("create table kept (n int); insert into kept values (1)");
        failing = 2;
        await client.thread.terminate();
        const meanwhile = await failure(client.query("select 1"));
        assert.ok(isStoreUnavailable(meanwhile), `unavailable while it cannot start: ${String(meanwhile)}`);
        assert.match(String(meanwhile), /no memory for the thread/);
        // Tried again after 50 ms, then 100 ms: the third start works.
        const rows = await keptOnceBack(client);
        assert.deepEqual(rows, [{ n: 1 }], "statements work again once a start succeeded");
        assert.equal(starts, 4);
        assert.equal(logged.filter((l) => /did not start again: no memory for the thread; .*tried again in/.test(l)).length, 2, logged.join(" | "));
      },
      { startThread, retryStartMs: 50 },
    );
  });

  it("a database folder that is gone is never replaced by a new empty one; put back, it is used again", () =>
    withThread(
      async (client, logged, pgdata) => {
        await client.exec("create table kept (n int); insert into kept values (7)");
        renameSync(pgdata, `${pgdata}.moved`);
        await client.thread.terminate();
        const err = await failure(client.query("select n from kept"));
        assert.ok(isStoreUnavailable(err), `unavailable: ${String(err)}`);
        assert.match(String(err), /database folder .* is gone/);
        assert.equal(existsSync(pgdata), false, "no new database was made there");
        renameSync(`${pgdata}.moved`, pgdata);
        const rows = await keptOnceBack(client);
        assert.deepEqual(rows, [{ n: 7 }]);
        assert.ok(logged.some((l) => /is gone/.test(l)), logged.join(" | "));
      },
      { retryStartMs: 50 },
    ));

  it("a start that keeps failing ends within the restart budget: left stopped, statements fail as unavailable", async () => {
    let starts = 0;
    const startThread: typeof startStoreThread = (pgdata, onEnd) => (++starts > 1 ? Promise.reject(new Error("no memory for the thread")) : startStoreThread(pgdata, onEnd));
    await withThread(
      async (client, logged) => {
        await client.thread.terminate();
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline && !logged.some((l) => /until the platform is restarted/.test(l))) await new Promise((r) => setTimeout(r, 20));
        assert.ok(logged.some((l) => /until the platform is restarted/.test(l)), logged.join(" | "));
        assert.equal(starts, 6, "the first start and five restarts");
        const err = await failure(client.query("select 1"));
        assert.ok(isStoreUnavailable(err), `unavailable: ${String(err)}`);
      },
      { startThread, retryStartMs: 5 },
    );
  });

  /** Run `body` (ESM, `openStore`, drizzle's `sql` and `dir` in scope) in a fresh Node process; its exit and output. */
  function inProcess(body: string) {
    const d = mkdtempSync(join(tmpdir(), "nbox-store-thread-exit-"));
    try {
      const code = `
        import { sql } from "drizzle-orm";
        import { openStore } from ${JSON.stringify(new URL("../../../src/platform/store/index.ts", import.meta.url).pathname)};
        const dir = ${JSON.stringify(d)};
        ${body}`;
      // Hang guard only: a process kept alive by the thread would be killed here and fail the checks.
      return spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { encoding: "utf8", timeout: 120_000 });
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }

  it("an open store does not keep a finished program alive", () => {
    const r = inProcess(`const s = await openStore({ dataDir: dir }); await s.ensureWorkspace("left-open"); console.log("done");`);
    assert.equal(r.signal, null, `the program did not end by itself: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /done/);
  });

  it("a close keeps the program alive until the thread has ended, even when a statement answers meanwhile", () => {
    // The statement is under way (drizzle sends it once awaited) when the close is asked, and its answer
    // arrives after: it must not let the process go early (which ends it with the close pending, exit 13).
    const r = inProcess(`const s = await openStore({ dataDir: dir }); const q = s.db.execute(sql\`select pg_sleep(0.2)\`).then((x) => x); await new Promise((r) => setTimeout(r, 50)); const c = s.close(); await q; await c; console.log("closed");`);
    assert.equal(r.signal, null, `the program did not end by itself: ${r.stderr}`);
    assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`);
    assert.match(r.stdout, /closed/);
  });
});
