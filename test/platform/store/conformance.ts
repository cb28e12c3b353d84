// One conformance suite for the store, run against every backend (pglite.test.ts, postgres.test.ts).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { getTableConfig } from "drizzle-orm/pg-core";
import { sql } from "drizzle-orm";
import { LATEST_VERSION, STORE_DEFAULTS, StoreError, tables, type RequeueInput, type Store } from "../../../src/platform/store/index.ts";
import { rowsOf } from "../../../src/platform/store/migrations.ts";
import { LOG_LINE_OVERHEAD_BYTES } from "../../../src/platform/store/logs-repo.ts";

/** A fresh, empty location (temp dir / schema) that stores can be opened on, one after another or at once. */
export interface StoreHarness {
  open(opts?: { now?: () => number; onQuery?: (query: string, params: unknown[]) => void; migrate?: boolean }): Promise<Store>;
  /** Whether two stores may be open on the location at the same time (Postgres: yes; PGlite: no). */
  readonly shared: boolean;
  dispose(): Promise<void>;
}

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof StoreError, `expected StoreError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

const SQL_TYPES: Record<string, string> = {
  text: "text",
  bigint: "bigint",
  bigserial: "bigint",
  integer: "integer",
  jsonb: "jsonb",
  boolean: "boolean",
  "double precision": "double precision",
};

export function runStoreConformance(name: string, makeHarness: () => Promise<StoreHarness>): void {
  describe(`store conformance: ${name}`, () => {
    let harness: StoreHarness;
    let store: Store;
    /** Added to the wall clock: tests move time forward instead of sleeping. */
    let skew = 0;
    const clock = () => Date.now() + skew;
    /** Set by a test that reads the statements the store sends. */
    let heard: ((query: string, params: unknown[]) => void) | undefined;
    const openStore = () => harness.open({ now: clock, onQuery: (q, p) => heard?.(q, p) });

    before(async () => {
      harness = await makeHarness();
      store = await openStore();
    });
    after(async () => {
      await store?.close();
      await harness?.dispose();
    });

    /** A fresh workspace + job deployment + version, so tests never see each other's rows. */
    async function fixture(opts: { maxRetries?: number } = {}) {
      const ws = await store.ensureWorkspace(`t-${randomUUID()}`);
      const { deployment, version } = await store.upsertDeploymentVersion({
        workspaceId: ws.id,
        name: "job",
        type: "job",
        kind: "fn",
        contentHash: `h-${randomUUID()}`,
        lockfileHash: null,
        manifest: { entry: "ops.ts", export: "foo" },
        bundleBytes: 123,
      });
      const newRun = (extra: Partial<Parameters<Store["createRun"]>[0]> = {}) =>
        store.createRun({
          workspaceId: ws.id,
          deploymentId: deployment.id,
          versionId: version.id,
          args: [1],
          maxRetries: opts.maxRetries,
          ...extra,
        });
      const claim = (worker = "w1") => store.claimNextRun(worker, { deploymentIds: [deployment.id] });
      return { ws, deployment, version, newRun, claim };
    }

    describe("migrations", () => {
      it("applied once on a fresh location, nothing on reopen", async (t) => {
        assert.deepEqual(store.migration?.applied, Array.from({ length: LATEST_VERSION }, (_, i) => i + 1));
        const ws = await store.ensureWorkspace(`t-${randomUUID()}`);
        await store.close();
        const t0 = performance.now();
        store = await openStore();
        const reopenMs = performance.now() - t0;
        assert.deepEqual(store.migration, { applied: [], version: LATEST_VERSION });
        assert.equal((await store.getWorkspaceByName(ws.name))?.id, ws.id, "data survives reopen");
        const res = await store.db.execute(sql`SELECT version FROM nbox_migrations ORDER BY version`);
        assert.deepEqual(rowsOf<{ version: number }>(res).map((r) => Number(r.version)), Array.from({ length: LATEST_VERSION }, (_, i) => i + 1));
        t.diagnostic(`${name}: reopen of an existing store took ${reopenMs.toFixed(0)} ms`);
      });

      it("stores opened at once on a fresh location migrate exactly once", async (t) => {
        const fresh = await makeHarness();
        try {
          if (!fresh.shared) {
            const s = await fresh.open();
            // PGlite is single-process: a second open of the same folder is refused, not corrupted.
            await rejectsWith(fresh.open(), "LOCKED");
            await s.close();
            t.diagnostic("PGlite: second concurrent open refused (LOCKED)");
            return;
          }
          const stores = await Promise.all([fresh.open(), fresh.open(), fresh.open()]);
          try {
            const applied = stores.map((s) => s.migration?.applied.length ?? -1).sort();
            assert.deepEqual(applied, [0, 0, LATEST_VERSION]);
          } finally {
            await Promise.all(stores.map((s) => s.close()));
          }
        } finally {
          await fresh.dispose();
        }
      });

      it("a run is removed with its workspace or deployment, through its version (its only parent key besides its schedule)", async () => {
        const keys = await store.db.execute(sql`SELECT conname FROM pg_constraint WHERE conrelid = 'runs'::regclass AND contype = 'f' ORDER BY conname`);
        assert.deepEqual(rowsOf<{ conname: string }>(keys).map((r) => r.conname), ["runs_schedule_id_fkey", "runs_version_id_fkey"]);
        const a = await fixture();
        const b = await fixture();
        const [runA] = await store.createRuns([{ workspaceId: a.ws.id, deploymentId: a.deployment.id, versionId: a.version.id, args: [] }]);
        const [runB] = await store.createRuns([{ workspaceId: b.ws.id, deploymentId: b.deployment.id, versionId: b.version.id, args: [] }]);
        await store.appendLogs(runA!.id, [{ stream: "stdout", line: "kept until its run goes" }]);
        await store.db.execute(sql`DELETE FROM deployments WHERE id = ${a.deployment.id}`);
        assert.equal(await store.getRun(runA!.id), null, "the deployment's run went with it");
        assert.deepEqual(await store.getLogs(runA!.id), []);
        await store.db.execute(sql`DELETE FROM workspaces WHERE id = ${b.ws.id}`);
        assert.equal(await store.getRun(runB!.id), null, "the workspace's run went with it");
        // A run of a version that does not exist is still refused.
        await assert.rejects(store.createRuns([{ workspaceId: a.ws.id, deploymentId: a.deployment.id, versionId: "ver_missing", args: [] }]));
      });

      it("the DDL matches schema.ts (columns, types, nullability)", async () => {
        for (const table of Object.values(tables.schema)) {
          const cfg = getTableConfig(table);
          const res = await store.db.execute(
            sql`SELECT column_name, data_type, is_nullable FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = ${cfg.name}`,
          );
          const actual = new Map(
            rowsOf<{ column_name: string; data_type: string; is_nullable: string }>(res).map((r) => [r.column_name, r]),
          );
          assert.equal(actual.size, cfg.columns.length, `${cfg.name}: column count`);
          for (const col of cfg.columns) {
            const db = actual.get(col.name);
            assert.ok(db, `${cfg.name}.${col.name} missing in the DDL`);
            assert.equal(db.data_type, SQL_TYPES[col.getSQLType()], `${cfg.name}.${col.name} type`);
            assert.equal(db.is_nullable === "NO", col.notNull || col.primary, `${cfg.name}.${col.name} nullability`);
          }
        }
      });
    });

    describe("workspaces", () => {
      it("ensureWorkspace is idempotent, also when racing", async () => {
        const name = `t-${randomUUID()}`;
        const all = await Promise.all([1, 2, 3, 4].map(() => store.ensureWorkspace(name)));
        assert.equal(new Set(all.map((w) => w.id)).size, 1);
        assert.match(all[0]!.id, /^ws_/);
        assert.equal((await store.ensureWorkspace(name)).id, all[0]!.id);
        assert.equal((await store.getWorkspaceByName(name))?.id, all[0]!.id);
        assert.equal((await store.getWorkspace(all[0]!.id))?.name, name);
        assert.equal(await store.getWorkspaceByName(`t-${randomUUID()}`), null);
        assert.ok((await store.listWorkspaces()).some((w) => w.name === name));
      });

      it("rejects names that are not URL-safe", async () => {
        for (const bad of ["", "a/b", "../x", "a b", "-x", "x".repeat(101)]) {
          await rejectsWith(store.ensureWorkspace(bad), "BAD_INPUT");
        }
      });
    });

    describe("tokens", () => {
      it("create → verify → revoke; the secret is never stored", async () => {
        const { ws, deployment } = await fixture();
        const admin = await store.createToken({ scope: "admin", name: "admin" });
        const wsTok = await store.createToken({ scope: "workspace", workspaceId: ws.id, name: "ci" });
        const srvTok = await store.createToken({ scope: "serving", servingId: deployment.id, name: "bar" });
        for (const t of [admin, wsTok, srvTok]) {
          assert.match(t.secret, /^nbx_[A-Za-z0-9_-]{43}$/);
          assert.match(t.id, /^tok_/);
        }
        assert.equal((await store.verifyToken(admin.secret))?.scope, "admin");
        assert.equal((await store.verifyToken(admin.secret))?.workspaceId, null);
        const w = await store.verifyToken(wsTok.secret);
        assert.equal(w?.workspaceId, ws.id);
        assert.equal(w?.scope, "workspace");
        assert.equal("tokenHash" in (w ?? {}), false, "the hash does not leave the store");
        const s = await store.verifyToken(srvTok.secret);
        assert.deepEqual([s?.scope, s?.servingId, s?.workspaceId], ["serving", deployment.id, ws.id]);

        assert.equal(await store.verifyToken(wsTok.secret + "x"), null);
        assert.equal(await store.verifyToken("nbx_" + "A".repeat(43)), null);
        assert.equal(await store.verifyToken("Bearer nope"), null);
        assert.equal(await store.verifyToken(""), null);

        const listed = await store.listTokens(ws.id);
        assert.deepEqual(listed.map((t) => t.id).sort(), [wsTok.id, srvTok.id].sort());
        assert.ok((await store.listTokens()).some((t) => t.id === admin.id));

        const raw = await store.db.execute(sql`SELECT * FROM tokens WHERE id = ${wsTok.id}`);
        assert.ok(!JSON.stringify(rowsOf(raw)).includes(wsTok.secret.slice(4)), "secret not in the row");

        assert.equal(await store.revokeToken(wsTok.id), true);
        assert.equal(await store.revokeToken(wsTok.id), false);
        assert.equal(await store.verifyToken(wsTok.secret), null);
        assert.equal(typeof (await store.getToken(wsTok.id))?.revokedAt, "number");
        assert.ok(await store.verifyToken(srvTok.secret), "other tokens unaffected");
        await store.revokeToken(admin.id);
      });

      it("validates scope and owner", async () => {
        const { ws, deployment } = await fixture();
        const other = await store.ensureWorkspace(`t-${randomUUID()}`);
        await rejectsWith(store.createToken({ scope: "admin", workspaceId: ws.id, name: "x" }), "BAD_INPUT");
        await rejectsWith(store.createToken({ scope: "workspace", name: "x" }), "BAD_INPUT");
        await rejectsWith(store.createToken({ scope: "serving", name: "x" }), "BAD_INPUT");
        await rejectsWith(store.createToken({ scope: "serving", servingId: "dep_nope", name: "x" }), "NOT_FOUND");
        await rejectsWith(
          store.createToken({ scope: "serving", servingId: deployment.id, workspaceId: other.id, name: "x" }),
          "BAD_INPUT",
        );
      });

      it("a serving has one current token: the same on every call, replaced by rotate; revokes move the epoch on", async () => {
        const ws = await store.ensureWorkspace(`t-${randomUUID()}`);
        const serving = async (name: string) =>
          (await store.upsertDeploymentVersion({ workspaceId: ws.id, name, type: "serving", kind: "class", contentHash: `h-${randomUUID()}`, lockfileHash: null, manifest: {}, bundleBytes: 1 })).deployment;
        const d = await serving("Svc");
        // A token minted the old way (random secret) cannot be handed out again: the first call replaces it.
        const legacy = await store.createToken({ scope: "serving", servingId: d.id, name: "legacy" });
        const e0 = await store.tokenEpoch();
        const first = await store.servingToken(d.id);
        assert.deepEqual(first.revoked, [legacy.id]);
        assert.equal(await store.verifyToken(legacy.secret), null);
        assert.ok((await store.tokenEpoch()) > e0, "revoking moves the epoch on");
        assert.deepEqual([first.token.scope, first.token.servingId, first.token.workspaceId], ["serving", d.id, ws.id]);
        const e1 = await store.tokenEpoch();
        const again = await store.servingToken(d.id);
        assert.deepEqual([again.id, again.secret, again.revoked], [first.id, first.secret, []]);
        assert.equal(await store.tokenEpoch(), e1, "handing out the current token revokes nothing");
        const raw = await store.db.execute(sql`SELECT * FROM tokens WHERE id = ${first.id}`);
        assert.ok(!JSON.stringify(rowsOf(raw)).includes(first.secret.slice(4)), "secret not in the row");

        const rotated = await store.servingToken(d.id, { rotate: true });
        assert.notEqual(rotated.secret, first.secret);
        assert.deepEqual(rotated.revoked, [first.id]);
        assert.equal(await store.verifyToken(first.secret), null);
        assert.equal((await store.verifyToken(rotated.secret))?.id, rotated.id);
        assert.equal((await store.servingToken(d.id)).secret, rotated.secret);
        assert.ok((await store.tokenEpoch()) > e1);
        assert.equal((await store.listTokens(ws.id)).filter((t) => t.revokedAt === null).length, 1);

        const e2 = await store.tokenEpoch();
        assert.equal(await store.revokeToken(rotated.id), true);
        assert.ok((await store.tokenEpoch()) > e2);
        const e3 = await store.tokenEpoch();
        assert.equal(await store.revokeToken(rotated.id), false);
        assert.equal(await store.tokenEpoch(), e3, "revoking a revoked token changes nothing");

        // Two nodes deploying the same serving at once agree on one token.
        const d2 = await serving("Svc2");
        const second = harness.shared ? await harness.open({ now: clock }) : store;
        try {
          const all = await Promise.all([store, second, store, second].map((s) => s.servingToken(d2.id)));
          assert.equal(new Set(all.map((t) => t.secret)).size, 1);
          assert.equal((await store.listTokens(ws.id)).filter((t) => t.servingId === d2.id).length, 1);
        } finally {
          if (second !== store) await second.close();
        }
        const { deployment: job } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name: "job", type: "job", kind: "fn", contentHash: `h-${randomUUID()}`, lockfileHash: null, manifest: {}, bundleBytes: 1 });
        await rejectsWith(store.servingToken(job.id), "BAD_INPUT");
        await rejectsWith(store.servingToken("dep_nope"), "NOT_FOUND");
      });
    });

    describe("deployments", () => {
      it("versions are deduplicated by content hash", async () => {
        const ws = await store.ensureWorkspace(`t-${randomUUID()}`);
        const input = {
          workspaceId: ws.id,
          name: "foo",
          type: "job" as const,
          kind: "fn" as const,
          contentHash: "sha256-aaa",
          lockfileHash: "lock-1",
          manifest: { formatVersion: 1, entry: "ops.ts", export: "foo", resource: { maxRetries: 0 } },
          bundleBytes: 0,
        };
        const a = await store.upsertDeploymentVersion(input);
        assert.equal(a.created, true);
        assert.equal(a.version.number, 1);
        assert.equal(a.version.bundleBytes, 0);
        assert.deepEqual(a.version.manifest, input.manifest);
        assert.equal(a.deployment.currentVersionId, a.version.id);
        assert.match(a.deployment.id, /^dep_/);

        const same = await store.upsertDeploymentVersion(input);
        assert.equal(same.created, false);
        assert.equal(same.version.id, a.version.id);
        assert.equal(same.deployment.id, a.deployment.id);

        const b = await store.upsertDeploymentVersion({ ...input, contentHash: "sha256-bbb", type: "serving", kind: "class" });
        assert.equal(b.created, true);
        assert.equal(b.version.number, 2);
        assert.equal(b.deployment.currentVersionId, b.version.id);
        assert.equal(b.deployment.type, "serving");

        const back = await store.upsertDeploymentVersion(input);
        assert.equal(back.created, false);
        assert.equal(back.deployment.currentVersionId, a.version.id, "redeploying old content makes it current again");

        assert.deepEqual((await store.listVersions(a.deployment.id)).map((v) => v.number), [2, 1]);
        assert.equal((await store.getVersion(b.version.id))?.contentHash, "sha256-bbb");
        assert.equal(await store.getVersion("ver_nope"), null);
      });

      it("concurrent deploys of the same content create one version", async () => {
        const ws = await store.ensureWorkspace(`t-${randomUUID()}`);
        const input = {
          workspaceId: ws.id, name: "Bar", type: "serving" as const, kind: "class" as const,
          contentHash: "h", manifest: {}, bundleBytes: 1,
        };
        const all = await Promise.all([1, 2, 3, 4].map(() => store.upsertDeploymentVersion(input)));
        assert.equal(all.filter((r) => r.created).length, 1);
        assert.equal(new Set(all.map((r) => r.version.id)).size, 1);
        assert.equal(new Set(all.map((r) => r.deployment.id)).size, 1);
      });

      it("get by name or id, scoped to the workspace; list", async () => {
        const { ws, deployment } = await fixture();
        const other = await store.ensureWorkspace(`t-${randomUUID()}`);
        assert.equal((await store.getDeployment(ws.id, "job"))?.id, deployment.id);
        assert.equal((await store.getDeployment(ws.id, deployment.id))?.id, deployment.id);
        assert.equal((await store.getDeployment(undefined, deployment.id))?.id, deployment.id);
        assert.equal(await store.getDeployment(undefined, "job"), null, "a bare name needs a workspace");
        assert.equal(await store.getDeployment(other.id, "job"), null);
        assert.equal(await store.getDeployment(other.id, deployment.id), null);
        assert.deepEqual((await store.listDeployments(ws.id)).map((d) => d.id), [deployment.id]);
        assert.ok((await store.listDeployments()).length >= 1);
        await rejectsWith(
          store.upsertDeploymentVersion({ workspaceId: ws.id, name: "../x", type: "job", kind: "fn", contentHash: "h", manifest: {}, bundleBytes: 1 }),
          "BAD_INPUT",
        );
      });

      it("bundles: record is idempotent, bundleSize reflects it", async () => {
        const hash = `sha256-${randomUUID()}`;
        assert.equal(await store.bundleSize(hash), null);
        await store.recordBundle(hash, 42);
        await store.recordBundle(hash, 42);
        assert.equal(await store.bundleSize(hash), 42);
      });
    });

    describe("runs", () => {
      it("createRun applies defaults, and 0 is a value", async () => {
        const { newRun } = await fixture();
        const r = await newRun({ traceparent: "00-abc-def-01" });
        assert.match(r.id, /^run_/);
        assert.deepEqual(
          [r.status, r.attempt, r.maxRetries, r.retryBackoffMs, r.timeoutMs, r.cancelRequested, r.workerId],
          ["queued", 1, 0, 1000, null, false, null],
        );
        assert.match(r.traceId, /^[0-9a-f]{32}$/);
        assert.equal(r.traceparent, "00-abc-def-01");
        const z = await newRun({ maxRetries: 0, retryBackoffMs: 0, timeoutMs: 0, traceId: "t".repeat(32) });
        assert.deepEqual([z.maxRetries, z.retryBackoffMs, z.timeoutMs, z.traceId], [0, 0, 0, "t".repeat(32)]);
        await rejectsWith(newRun({ maxRetries: -1 }), "BAD_INPUT");
      });

      it("args/result/error round-trip as JSON", async () => {
        const { newRun, claim } = await fixture();
        const args = { v: 1, value: [{ $t: "Date", v: "2026-01-01T00:00:00.000Z" }, "ünïcødé ✓", 1.5, null, { nested: [true] }] };
        const r = await newRun({ args });
        assert.deepEqual((await store.getRun(r.id))?.args, args);
        await claim();
        const result = { v: 1, value: { big: "12345678901234567890", list: [] } };
        assert.equal(await store.finishRun(r.id, { status: "succeeded", result }), true);
        assert.deepEqual((await store.getRun(r.id))?.result, result);
      });

      it("claims in creation order and respects scheduled_for", async () => {
        const { newRun, claim } = await fixture();
        const r1 = await newRun();
        const later = await newRun({ scheduledFor: clock() + 60_000 });
        const r2 = await newRun();
        // Due since r2 was created (not "a moment ago", which on a slow machine may be before r2).
        const r3 = await newRun({ scheduledFor: Number(r2.createdAt) });
        const c1 = await claim("w1");
        assert.equal(c1?.id, r1.id);
        assert.equal(c1?.status, "running");
        assert.equal(c1?.workerId, "w1");
        assert.equal(c1?.startedAt, null, "claimed, not started: its call has not reached a process yet");
        assert.ok(Math.abs(c1!.leaseExpiresAt! - (clock() + STORE_DEFAULTS.leaseMs)) < 5_000, "held under the default lease");
        assert.equal((await claim("w2"))?.id, r2.id);
        assert.equal((await claim("w1"))?.id, r3.id);
        assert.equal(await claim("w1"), null, "the delayed run is not due yet");
        skew += 61_000;
        try {
          assert.equal((await claim("w1"))?.id, later.id);
        } finally {
          skew -= 61_000;
        }
        assert.equal(await claim("w1"), null);
      });

      it("the deployment filter only claims those deployments", async () => {
        const a = await fixture();
        const b = await fixture();
        const rb = await b.newRun();
        const ra = await a.newRun();
        assert.equal(await store.claimNextRun("w", { deploymentIds: [] }), null);
        assert.equal((await store.claimNextRun("w", { deploymentIds: [a.deployment.id] }))?.id, ra.id);
        assert.equal((await store.claimRun(rb.id, "w9"))?.workerId, "w9");
        assert.equal(await store.claimRun(rb.id, "w8"), null, "claimRun only takes queued runs");
        assert.equal((await store.claimRun(rb.id, "w9"))?.id, rb.id, "the holder asking again (its answer was lost) gets it again");
        await store.markRunsStarted("w9", [{ id: rb.id, startedAt: Date.now() }]);
        assert.equal(await store.claimRun(rb.id, "w9"), null, "not once it started");
        assert.deepEqual((await store.claimRuns([rb.id, ra.id, "run_nope"], "w9")).map((r) => r.id), [], "none of them is queued");
      });

      it("concurrent claimers never claim the same run", async () => {
        const { newRun, deployment } = await fixture();
        const N = 120;
        const created = [];
        for (let i = 0; i < N; i++) created.push((await newRun({ args: [i] })).id);
        // Postgres: two stores (two pools, many connections); PGlite: concurrent calls on one.
        const second = harness.shared ? await harness.open({ now: clock }) : store;
        try {
          const claimed: string[] = [];
          const claimer = async (s: Store, worker: string) => {
            for (;;) {
              const r = await s.claimNextRun(worker, { deploymentIds: [deployment.id] });
              if (!r) return;
              assert.equal(r.workerId, worker);
              claimed.push(r.id);
            }
          };
          await Promise.all(
            Array.from({ length: 8 }, (_, i) => claimer(i % 2 ? second : store, `w${i}`)),
          );
          assert.equal(claimed.length, N, "every run claimed once");
          assert.equal(new Set(claimed).size, N, "no run claimed twice");
          assert.deepEqual([...claimed].sort(), [...created].sort());
        } finally {
          if (second !== store) await second.close();
        }
      });

      it("finishRun applies only once", async () => {
        const { newRun, claim } = await fixture();
        const r = await newRun();
        await claim("w1");
        assert.equal(await store.finishRun(r.id, { status: "succeeded", result: 1, workerId: "other" }), false, "held by w1");
        assert.equal(await store.finishRun(r.id, { status: "succeeded", result: 1, workerId: "w1" }), true);
        assert.equal(await store.finishRun(r.id, { status: "failed", error: { name: "Error", message: "late" } }), false);
        assert.equal(await store.finishRun(r.id, { status: "timed_out" }), false);
        const done = await store.getRun(r.id);
        assert.deepEqual([done?.status, done?.result, done?.error], ["succeeded", 1, null]);
        assert.equal(typeof done?.finishedAt, "number");
        // Racing finishers: exactly one wins.
        const r2 = await newRun();
        await claim("w1");
        const wins = await Promise.all([
          store.finishRun(r2.id, { status: "succeeded" }),
          store.finishRun(r2.id, { status: "timed_out" }),
          store.finishRun(r2.id, { status: "cancelled" }),
        ]);
        assert.equal(wins.filter(Boolean).length, 1);
        // A queued run can be finished directly (e.g. timed out before it started).
        const r3 = await newRun();
        assert.equal(await store.finishRun(r3.id, { status: "timed_out", error: { name: "TimeoutError", message: "x" } }), true);
        await rejectsWith(store.finishRun(r3.id, { status: "running" as never }), "BAD_INPUT");
      });

      it("statements about a few runs, or a batch of them, find them by id, however many runs the table holds", async () => {
        // The ids travel as one JSON parameter; planned as if it held a hundred, a claim or a finish
        // of three runs scanned every queued run, or the whole table, at a cost growing with history;
        // and a batch of finishes (dozens of rows joined by id) was planned as a scan of the whole table.
        const { ws, deployment, version } = await fixture();
        const many = await store.createRuns(Array.from({ length: 10_000 }, (_, i) => ({ workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args: [i] })));
        // Planned both with the table's statistics and without (a table that grew since its last analyze).
        for (const analyzed of [false, true]) {
          if (analyzed) await store.db.execute(sql`analyze runs`);
          await statementsFindRunsById(many.slice(analyzed ? 1000 : 0).map((r) => r.id), analyzed ? "analyzed" : "not analyzed");
        }
      });

      async function statementsFindRunsById(pool: string[], when: string): Promise<void> {
        const sent: Array<{ what: string; query: string; params: unknown[] }> = [];
        const watch = async (what: string, step: () => Promise<unknown>) => {
          heard = (query, params) => sent.push({ what, query, params });
          try {
            await step();
          } finally {
            heard = undefined;
          }
        };
        for (const [from, n] of [[0, 3], [100, 66]] as const) {
          const ids = pool.slice(from, from + n);
          await watch(`claimRuns of ${n} (${when})`, async () => assert.equal((await store.claimRuns(ids, "w-plan")).length, n));
          await watch(`markRunsStarted of ${n} (${when})`, async () => assert.equal((await store.markRunsStarted("w-plan", ids.map((id) => ({ id, startedAt: 1 })))).length, n));
          await watch(`getRuns of ${n} (${when})`, () => store.getRuns(ids));
          await watch(`argsOf of ${n} (${when})`, () => store.argsOf(ids));
          await watch(`finishRuns of ${n} (${when})`, async () => assert.equal((await store.finishRuns(ids.map((id) => ({ id, status: "succeeded" as const, workerId: "w-plan" })))).length, n));
        }
        assert.ok(sent.length >= 10, `heard ${sent.length} statements`);
        const client = (store.db as unknown as { $client: { query(q: string, p: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }> } }).$client;
        for (const { what, query, params } of sent) {
          const { rows } = await client.query(`explain (format json) ${query}`, params);
          const plan = rows[0]!["QUERY PLAN"];
          const nodes: Array<Record<string, unknown>> = [];
          const walk = (n: Record<string, unknown>) => {
            nodes.push(n);
            for (const c of (n.Plans as Array<Record<string, unknown>> | undefined) ?? []) walk(c);
          };
          walk((typeof plan === "string" ? JSON.parse(plan) : plan)[0].Plan);
          const onRuns = nodes.filter((n) => n["Relation Name"] === "runs" || (typeof n["Index Name"] === "string" && (n["Index Name"] as string).startsWith("runs_")));
          const how = onRuns.map((n) => `${n["Node Type"]}${n["Index Name"] ? ` using ${n["Index Name"]}` : ""}`);
          assert.ok(!how.some((h) => h.startsWith("Seq Scan")), `${what} reads the whole runs table: ${how.join(", ")}`);
          // Marking runs started may also go through the worker's running runs (what it holds: bounded, not history).
          const allowed = what.startsWith("markRunsStarted") ? ["runs_pkey", "runs_running_idx"] : ["runs_pkey"];
          assert.ok(how.some((h) => allowed.some((i) => h.endsWith(`using ${i}`))), `${what} does not find the runs by id: ${how.join(", ")}`);
          assert.deepEqual(how.filter((h) => h.includes(" using ") && !allowed.some((i) => h.endsWith(`using ${i}`))), [], `${what} goes through another index of runs`);
        }
      }

      it("batches: createRuns, claimNextRuns (ordered, no double claims), finishRuns with guards, getRuns", async () => {
        const { ws, deployment, version } = await fixture();
        const base = { workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id };
        const made = await store.createRuns(Array.from({ length: 30 }, (_, i) => ({ ...base, args: [i], maxRetries: i % 2 })));
        assert.equal(made.length, 30);
        assert.deepEqual(made.map((r) => (r.args as number[])[0]), Array.from({ length: 30 }, (_, i) => i));
        assert.deepEqual(made.map((r) => r.maxRetries).slice(0, 3), [0, 1, 0]);
        const second = harness.shared ? await harness.open({ now: clock }) : store;
        try {
          const [a, b] = await Promise.all([
            store.claimNextRuns("wa", 20, { deploymentIds: [deployment.id] }),
            second.claimNextRuns("wb", 20, { deploymentIds: [deployment.id] }),
          ]);
          const all = [...a, ...b].map((r) => r.id);
          assert.equal(all.length, 30, "every run claimed");
          assert.equal(new Set(all).size, 30, "no run claimed twice");
          const first = a.length >= b.length ? a : b;
          assert.deepEqual(first.map((r) => r.id), [...first.map((r) => r.id)].sort(), "each batch in queue order");
        } finally {
          if (second !== store) await second.close();
        }
        assert.deepEqual(await store.claimNextRuns("wa", 5, { deploymentIds: [deployment.id] }), []);
        const mine = (await store.getRuns(made.map((r) => r.id))).filter((r) => r.workerId === "wa");
        const applied = await store.finishRuns([
          ...mine.map((r) => ({ id: r.id, status: "succeeded" as const, result: { v: (r.args as number[])[0] }, workerId: "wa" })),
          { id: made.find((r) => !mine.some((m) => m.id === r.id))!.id, status: "failed" as const, error: { name: "E", message: "x" }, workerId: "wa" },
        ]);
        assert.deepEqual(applied.map((r) => r.id).sort(), mine.map((r) => r.id).sort(), "the run held by another worker is not finished");
        for (const row of applied) {
          const { args, ...stored } = (await store.getRun(row.id))!;
          assert.ok(!("args" in row), "a finished row leaves out its args (waiters read them only when they show them)");
          assert.deepEqual(row, stored, "each returned row is the stored row but for args, typed as a read gives it");
          assert.deepEqual((await store.argsOf([row.id])).get(row.id), args);
        }
        // argsOf: many runs at once, each with its own args; missing ids left out.
        const [nested] = await store.createRuns([{ ...base, args: [{ b: [null, "x"], a: 1 }] }]);
        const many = await store.argsOf([...made.slice(0, 3).map((r) => r.id), nested!.id, "run_missing"]);
        assert.deepEqual(many, new Map([...made.slice(0, 3).map((r) => [r.id, r.args] as const), [nested!.id, [{ b: [null, "x"], a: 1 }]] as const]));
        assert.deepEqual(await store.argsOf([]), new Map());
        // JSON null is a value like any other (not a missing column), alone or in a batch.
        const [nullOne] = [await store.createRun({ ...base, args: null })];
        const nullMany = await store.createRuns([{ ...base, args: null }, { ...base, args: [null] }]);
        assert.deepEqual([nullOne!.args, ...nullMany.map((r) => r.args)], [null, null, [null]]);
        assert.deepEqual(
          await store.argsOf([nullOne!.id, ...nullMany.map((r) => r.id)]),
          new Map([[nullOne!.id, null], [nullMany[0]!.id, null], [nullMany[1]!.id, [null]]]),
        );
        assert.equal((await store.getRun(nullOne!.id))?.args, null);
        const again = await store.finishRuns(mine.map((r) => ({ id: r.id, status: "failed" as const })));
        assert.deepEqual(again, [], "finished runs stay finished");
        const done = await store.getRun(mine[0]!.id);
        assert.deepEqual([done?.status, done?.result], ["succeeded", { v: (mine[0]!.args as number[])[0] }]);
        assert.equal(typeof done?.finishedAt, "number");
        await rejectsWith(store.finishRuns([{ id: mine[0]!.id, status: "running" as never }]), "BAD_INPUT");
        assert.deepEqual(await store.getRuns([]), []);
      });

      it("requeueRuns: next attempt after the backoff", async () => {
        const { newRun, claim } = await fixture({ maxRetries: 2 });
        const requeue = async (id: string, input: RequeueInput) => (await store.requeueRuns([{ id, ...input }]))[0] ?? null;
        const r = await newRun();
        await claim("w1");
        const error = { name: "Error", message: "boom", stack: "Error: boom\n    at x" };
        assert.equal((await requeue(r.id, { scheduledFor: clock() + 5_000, error, workerId: "w1" }))?.status, "queued", "the row as it is now");
        assert.equal(await requeue(r.id, { scheduledFor: null, error }), null, "only running runs");
        const q = await store.getRun(r.id);
        assert.deepEqual([q?.status, q?.attempt, q?.workerId, q?.error], ["queued", 2, null, error]);
        assert.equal(await claim("w2"), null, "backoff respected");
        skew += 6_000;
        try {
          const again = await claim("w2");
          assert.deepEqual([again?.id, again?.attempt], [r.id, 2]);
        } finally {
          skew -= 6_000;
        }
        assert.equal((await requeue(r.id, { attempt: 3, scheduledFor: null, error }))?.attempt, 3);
        assert.equal((await store.getRun(r.id))?.attempt, 3);
        await claim("w3");
        await store.requestCancel(r.id);
        assert.equal(await requeue(r.id, { scheduledFor: null, error }), null, "cancel wins over retry");
        assert.equal(await store.finishRun(r.id, { status: "cancelled" }), true);
      });

      it("finishRuns: a late finish of an earlier attempt does not end the run's later attempt, also held by the same worker", async () => {
        const { newRun, claim } = await fixture({ maxRetries: 2 });
        const r = await newRun();
        assert.equal((await claim("w1"))?.attempt, 1);
        // Attempt 1 counted (its lease lapsed, say) and the same worker holds the run again for attempt 2.
        await store.requeueRuns([{ id: r.id, scheduledFor: null, error: { name: "WorkerCrashError", message: "lapsed" }, workerId: "w1" }]);
        assert.equal((await store.claimRun(r.id, "w1"))?.attempt, 2);
        assert.deepEqual(await store.finishRuns([{ id: r.id, status: "succeeded", result: "of attempt 1", workerId: "w1", attempt: 1 }]), [], "attempt 1's finish is not applied");
        assert.deepEqual([(await store.getRun(r.id))?.status, (await store.getRun(r.id))?.attempt], ["running", 2]);
        const [done] = await store.finishRuns([{ id: r.id, status: "succeeded", result: "of attempt 2", workerId: "w1", attempt: 2 }]);
        assert.deepEqual([done?.status, done?.result, done?.attempt], ["succeeded", "of attempt 2", 2]);
      });

      it("requeueRuns: a hand-back of many runs in one call, each with its guards", async () => {
        const { newRun } = await fixture({ maxRetries: 2 });
        const [held, heldAgain, otherHolder, cancelAsked, queued] = [await newRun(), await newRun(), await newRun(), await newRun(), await newRun()];
        for (const r of [held, heldAgain, cancelAsked]) await store.claimRun(r.id, "w1");
        await store.claimRun(otherHolder.id, "w2");
        await store.requestCancel(cancelAsked.id);
        const error = { name: "Error", message: "boom" };
        const later = clock() + 5_000;
        const rows = await store.requeueRuns([
          { id: held.id, attempt: 1, scheduledFor: null, error: null, workerId: "w1" },
          { id: heldAgain.id, scheduledFor: later, error, workerId: "w1" },
          { id: otherHolder.id, attempt: 1, scheduledFor: null, error: null, workerId: "w1" },
          { id: cancelAsked.id, attempt: 1, scheduledFor: null, error: null, workerId: "w1" },
          { id: queued.id, attempt: 1, scheduledFor: null, error: null, workerId: "w1" },
          { id: "run_missing", attempt: 1, scheduledFor: null, error: null, workerId: "w1" },
        ]);
        assert.deepEqual(rows.map((r) => r.id).sort(), [held.id, heldAgain.id].sort(), "only runs w1 holds and no cancel was asked for");
        const byId = new Map(rows.map((r) => [r.id, r]));
        assert.deepEqual([byId.get(held.id)?.status, byId.get(held.id)?.attempt, byId.get(held.id)?.workerId, byId.get(held.id)?.error], ["queued", 1, null, null], "handed back untouched: same attempt");
        assert.deepEqual([byId.get(heldAgain.id)?.attempt, byId.get(heldAgain.id)?.scheduledFor, byId.get(heldAgain.id)?.error], [2, later, error], "a retry: next attempt, after its backoff");
        assert.deepEqual([(await store.getRun(otherHolder.id))?.status, (await store.getRun(otherHolder.id))?.workerId], ["running", "w2"], "another worker's run stays its own");
        assert.equal((await store.getRun(cancelAsked.id))?.status, "running", "cancel wins over the hand-back (the caller finishes it as cancelled)");
        assert.equal((await store.getRun(queued.id))?.status, "queued");
        assert.equal((await store.getRun(queued.id))?.attempt, 1, "a queued run is left as it is");
        assert.deepEqual(await store.requeueRuns([]), []);
      });

      it("requestCancel: queued → cancelled, running → flagged, finished → unchanged", async () => {
        const { newRun, claim } = await fixture();
        const q = await newRun();
        const c = await store.requestCancel(q.id);
        assert.deepEqual([c?.status, c?.cancelRequested], ["cancelled", true]);
        assert.equal(await claim(), null, "a cancelled run is never claimed");
        const r = await newRun();
        await claim();
        const flagged = await store.requestCancel(r.id);
        assert.deepEqual([flagged?.status, flagged?.cancelRequested], ["running", true]);
        await store.finishRun(r.id, { status: "cancelled" });
        assert.equal((await store.requestCancel(r.id))?.status, "cancelled");
        assert.equal(await store.requestCancel("run_nope"), null);
      });

      it("listRuns filters, pages newest first; counts by status", async () => {
        const { ws, deployment, newRun, claim } = await fixture();
        const ids = [];
        for (let i = 0; i < 5; i++) ids.push((await newRun()).id);
        await claim();
        const all = await store.listRuns({ workspaceId: ws.id, limit: 100 });
        assert.deepEqual(all.map((r) => r.id), [...ids].reverse());
        const page1 = await store.listRuns({ deploymentId: deployment.id, limit: 2 });
        const page2 = await store.listRuns({ deploymentId: deployment.id, limit: 2, before: page1.at(-1)!.id });
        assert.deepEqual([...page1, ...page2].map((r) => r.id), [ids[4], ids[3], ids[2], ids[1]]);
        assert.deepEqual((await store.listRuns({ workspaceId: ws.id, status: "running" })).map((r) => r.id), [ids[0]]);
        assert.equal((await store.listRuns({ workspaceId: ws.id, status: ["running", "queued"] })).length, 5);
        assert.equal((await store.listRuns({ workspaceId: ws.id, limit: 0 })).length, 0);
        const counts = await store.countRunsByStatus({ workspaceId: ws.id });
        assert.deepEqual(counts, { queued: 4, running: 1, succeeded: 0, failed: 0, cancelled: 0, timed_out: 0 });
      });

      it("a started mark applies to the attempt it names only: one sent again late does not mark a later attempt", async () => {
        const { newRun, claim } = await fixture({ maxRetries: 2 });
        const r = await newRun();
        const worker = `w-${randomUUID()}`;
        await claim(worker);
        assert.deepEqual(await store.markRunsStarted(worker, [{ id: r.id, attempt: 1, startedAt: clock() }]), [r.id]);
        // Its worker lost: attempt 1 counts, the run is retried as attempt 2 and claimed by the same worker.
        assert.deepEqual((await store.recoverStaleRuns({ workerIds: [worker] })).retried, [r.id]);
        assert.equal((await store.claimRun(r.id, worker))?.attempt, 2);
        assert.deepEqual(await store.markRunsStarted(worker, [{ id: r.id, attempt: 1, startedAt: clock() }]), [], "attempt 1's mark sent again");
        assert.equal((await store.getRun(r.id))?.startedAt, null, "attempt 2 has not started");
        assert.deepEqual(await store.markRunsStarted(worker, [{ id: r.id, attempt: 2, startedAt: clock() }]), [r.id]);
        // A mark without an attempt (an earlier worker) applies as before.
        const s = await newRun();
        await claim(worker);
        assert.deepEqual(await store.markRunsStarted(worker, [{ id: s.id, startedAt: clock() }]), [s.id]);
      });

      it("recoverStaleRuns (startup): not started → queued, same attempt; started → retried or failed; honour cancel", async () => {
        const retrying = await fixture({ maxRetries: 1 });
        const once = await fixture({ maxRetries: 0 });
        const a = await retrying.newRun();
        const b = await once.newRun();
        const c = await retrying.newRun();
        const ahead = await once.newRun();
        const untouched = await retrying.newRun();
        const worker = `dead-${randomUUID()}`;
        await retrying.claim(worker);
        await once.claim(worker);
        await retrying.claim(worker);
        await once.claim(worker);
        assert.deepEqual((await store.markRunsStarted(worker, [a, b, c].map((r) => ({ id: r.id, startedAt: clock() })))).sort(), [a.id, b.id, c.id].sort());
        await store.requestCancel(c.id);
        await retrying.claim("alive");

        const res = await store.recoverStaleRuns({ workerIds: [worker] });
        assert.deepEqual(res, { requeued: [ahead.id], retried: [a.id], failed: [b.id], cancelled: [c.id] });
        const ra = await store.getRun(a.id);
        assert.deepEqual([ra?.status, ra?.attempt, ra?.workerId, ra?.startedAt, ra?.leaseExpiresAt], ["queued", 2, null, null, null]);
        assert.ok(ra!.scheduledFor! >= clock() + 500, "the retry waits for its backoff");
        assert.equal(ra?.error?.name, "WorkerCrashError");
        assert.match(ra?.error?.message ?? "", new RegExp(`run ${a.id} \\(attempt 1 of 2\\) was running on worker ${worker} when the platform stopped; retrying as attempt 2 in 1000 ms`));
        const rb = await store.getRun(b.id);
        assert.equal(rb?.status, "failed");
        assert.equal(rb?.error?.name, "WorkerCrashError");
        assert.match(rb?.error?.message ?? "", /no retries left/);
        assert.equal((await store.getRun(c.id))?.status, "cancelled");
        const rAhead = await store.getRun(ahead.id);
        assert.deepEqual([rAhead?.status, rAhead?.attempt, rAhead?.error, rAhead?.workerId], ["queued", 1, null, null], "claimed ahead, never started: no attempt spent");
        assert.equal((await once.claim("w-next"))?.id, ahead.id, "back at the head of the queue");
        assert.equal((await store.getRun(untouched.id))?.status, "running", "other workers' runs untouched");

        // Startup mode (no filter): nothing is left running.
        await store.recoverStaleRuns();
        assert.equal((await store.listRuns({ status: "running", limit: 1000 })).length, 0);
        assert.equal((await store.getRun(untouched.id))?.attempt, 1, "it had not started");
      });
    });

    describe("NUL characters (Postgres cannot keep them)", () => {
      it("arguments with one are refused naming the run; a result with one fails its run, the rest of the batch is kept; errors and spans keep U+FFFD", async () => {
        const { ws, deployment, version, newRun } = await fixture();
        const input = (args: unknown) => ({ workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args });
        const before = (await store.listRuns({ deploymentId: deployment.id })).length;
        await assert.rejects(store.createRuns([input([1]), input([{ k: "a\u0000b" }])]), (err: Error) => err instanceof StoreError && err.code === "BAD_INPUT" && /run 2 of 2/.test(err.message) && /NUL/.test(err.message));
        assert.equal((await store.listRuns({ deploymentId: deployment.id })).length, before, "nothing was queued");
        // A backslash followed by "u0000" is ordinary text.
        const [plain] = await store.createRuns([input(["\\u0000"])]);
        assert.deepEqual(plain!.args, ["\\u0000"]);

        const [a, b, c] = [await newRun(), await newRun(), await newRun()];
        for (const r of [a, b, c]) await store.claimRun(r.id, "w1");
        const done = await store.finishRuns([
          { id: a.id, status: "succeeded", result: { text: "x\u0000y" }, workerId: "w1" },
          { id: b.id, status: "succeeded", result: 7, workerId: "w1" },
          { id: c.id, status: "failed", error: { name: "Error", message: "bad\u0000byte" }, workerId: "w1" },
        ]);
        assert.equal(done.length, 3);
        const [ra, rb, rc] = [await store.getRun(a.id), await store.getRun(b.id), await store.getRun(c.id)];
        assert.equal(ra!.status, "failed");
        assert.equal((ra!.error as { name: string }).name, "ResultNotStorableError");
        assert.deepEqual([rb!.status, rb!.result], ["succeeded", 7]);
        assert.equal((rc!.error as { message: string }).message, "bad\ufffdbyte");

        const d = await newRun();
        await store.claimRun(d.id, "w1");
        const [requeued] = await store.requeueRuns([{ id: d.id, scheduledFor: null, error: { name: "Error", message: "once\u0000more" }, workerId: "w1" }]);
        assert.equal((requeued!.error as { message: string }).message, "once\ufffdmore");

        const traceId = randomUUID().replaceAll("-", "");
        await store.insertSpans([{ traceId, spanId: `${traceId.slice(0, 16)}`, parentSpanId: null, runId: d.id, servingId: null, op: "Op\u0000", name: "forward", start: 1, end: 2, status: "ok", error: null, attributes: { "k\u0000": "v\u0000" } }]);
        const [span] = await store.getSpans({ runId: d.id });
        assert.equal(span!.op, "Op\ufffd");
        assert.deepEqual(span!.attributes, { "k\ufffd": "v\ufffd" });
      });

      it("lone UTF-16 surrogates are kept out the same way, in every writer; a valid pair and escaped text are kept as they are", async () => {
        const { ws, deployment, version, newRun } = await fixture();
        const input = (args: unknown) => ({ workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args });
        const lone = "cut\ud83d"; // the first half of an emoji, as slicing makes it
        await assert.rejects(store.createRuns([input([lone])]), (err: Error) => err instanceof StoreError && err.code === "BAD_INPUT" && /run 1 of 1/.test(err.message) && /lone UTF-16 surrogate/.test(err.message));
        const [kept] = await store.createRuns([input(["\u{1F600}", "\\ud800 is text"])]);
        assert.deepEqual((await store.getRun(kept!.id))!.args, ["\u{1F600}", "\\ud800 is text"]);

        const [a, b] = [await newRun(), await newRun()];
        for (const r of [a, b]) await store.claimRun(r.id, "w1");
        const traceId = randomUUID().replaceAll("-", "");
        const span = { traceId, spanId: traceId.slice(0, 16), parentSpanId: null, runId: b.id, servingId: null, op: "Op", name: lone, start: 1, end: 2, status: "ok" as const, error: null, attributes: { [lone]: lone } };
        const done = await store.finishRuns([
          { id: a.id, status: "succeeded", result: { text: lone }, workerId: "w1" },
          { id: b.id, status: "failed", error: { name: "Error", message: lone }, spans: [span], workerId: "w1" },
        ]);
        assert.equal(done.length, 2, "the batch is kept");
        const [ra, rb] = [await store.getRun(a.id), await store.getRun(b.id)];
        assert.deepEqual([ra!.status, ra!.error?.name], ["failed", "ResultNotStorableError"]);
        assert.match(ra!.error!.message, /lone UTF-16 surrogate/);
        assert.equal(rb!.error!.message, "cut\ufffd");
        const [kept1] = await store.getSpans({ runId: b.id });
        assert.deepEqual([kept1!.name, kept1!.attributes], ["cut\ufffd", { "cut\ufffd": "cut\ufffd" }]);

        const c = await newRun();
        await store.claimRun(c.id, "w1");
        await store.appendLogs(c.id, [{ line: lone }, { line: "after" }]);
        assert.deepEqual((await store.getLogs(c.id)).map((l) => l.line), ["cut\ufffd", "after"]);
        const [requeued] = await store.requeueRuns([{ id: c.id, scheduledFor: null, error: { name: "Error", message: lone }, workerId: "w1" }]);
        assert.equal(requeued!.error!.message, "cut\ufffd");
        await store.insertSpans([{ ...span, spanId: randomUUID().replaceAll("-", "").slice(0, 16), runId: c.id }]);
        assert.equal((await store.getSpans({ runId: c.id }))[0]!.name, "cut\ufffd");
        const event = await store.addEvent({ workspaceId: ws.id, kind: "serving", message: lone, data: { [lone]: lone } });
        assert.deepEqual([event.message, event.data], ["cut\ufffd", { "cut\ufffd": "cut\ufffd" }]);
        const { version: v2 } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name: deployment.name, type: "job", kind: "fn", contentHash: `h-${randomUUID()}`, lockfileHash: null, manifest: { schema: { const: lone } }, bundleBytes: 1 });
        assert.deepEqual((await store.getVersion(v2.id))!.manifest, { schema: { const: "cut\ufffd" } });
      });
    });

    describe("leases", () => {
      const LEASE = 1_000;

      it("a claim holds a lease; the heartbeat renews every run the worker holds, in one statement", async () => {
        const { newRun, deployment } = await fixture();
        const mine = [await newRun(), await newRun()];
        const theirs = await newRun();
        const worker = `w-${randomUUID()}`;
        const claimed = await store.claimNextRuns(worker, 2, { deploymentIds: [deployment.id], leaseMs: LEASE });
        assert.deepEqual(claimed.map((r) => r.id), mine.map((r) => r.id));
        for (const r of claimed) assert.ok(Math.abs(r.leaseExpiresAt! - (clock() + LEASE)) < 500, "lease = claim time + leaseMs");
        const other = await store.claimNextRun(`o-${randomUUID()}`, { deploymentIds: [deployment.id], leaseMs: LEASE });
        assert.equal(other?.id, theirs.id);
        skew += 10_000;
        try {
          assert.equal(await store.renewLeases(worker, { leaseMs: LEASE }), 2);
          for (const r of await store.getRuns(mine.map((m) => m.id))) assert.ok(r.leaseExpiresAt! >= clock() + LEASE - 500, "renewed from now");
          assert.equal((await store.getRun(theirs.id))?.leaseExpiresAt, other!.leaseExpiresAt, "another worker's lease is not ours to renew");
          assert.equal(await store.renewLeases(`nobody-${randomUUID()}`), 0);
          assert.equal(await store.renewLeases(worker, { leaseMs: LEASE, ids: [mine[0]!.id, theirs.id] }), 1, "with ids: only those of them it holds");
          const back = await store.recoverStaleRuns({ lapsedOnly: true, workerIds: [worker, other!.workerId!] });
          assert.deepEqual(back.requeued, [theirs.id], "only the lapsed lease is taken back");
          assert.deepEqual((await store.getRuns(mine.map((m) => m.id))).map((r) => r.status), ["running", "running"]);
        } finally {
          skew -= 10_000;
        }
      });

      it("markRunsStarted applies only to runs the worker still holds, once", async () => {
        const { newRun, claim } = await fixture();
        const r = await newRun();
        const queued = await newRun({ scheduledFor: clock() + 60_000 });
        await claim("w1");
        assert.deepEqual(await store.markRunsStarted("w2", [{ id: r.id, startedAt: 5 }]), [], "held by w1");
        assert.deepEqual(await store.markRunsStarted("w1", [{ id: queued.id, startedAt: 5 }]), [], "not claimed");
        assert.deepEqual(await store.markRunsStarted("w1", [{ id: r.id, startedAt: 7 }]), [r.id]);
        assert.deepEqual(await store.markRunsStarted("w1", [{ id: r.id, startedAt: 9 }]), [], "already started");
        assert.equal((await store.getRun(r.id))?.startedAt, 7);
        assert.deepEqual(await store.markRunsStarted("w1", []), []);
      });

      it("lapsed leases: not started → queued, attempt kept; started → retried after the backoff, or failed naming the lapsed lease", async () => {
        const retrying = await fixture({ maxRetries: 1 });
        const once = await fixture({ maxRetries: 0 });
        const dead = `dead-${randomUUID()}`;
        const live = `live-${randomUUID()}`;
        const started1 = await retrying.newRun();
        const started0 = await once.newRun();
        const ahead = await once.newRun();
        const held = await once.newRun();
        const leased = { leaseMs: LEASE };
        await store.claimRun(started1.id, dead, leased);
        await store.claimRun(started0.id, dead, leased);
        await store.claimRun(ahead.id, dead, leased);
        await store.claimRun(held.id, live, leased);
        await store.markRunsStarted(dead, [{ id: started1.id, startedAt: clock() }, { id: started0.id, startedAt: clock() }]);
        await store.markRunsStarted(live, [{ id: held.id, startedAt: clock() }]);
        const nothing = await store.recoverStaleRuns({ lapsedOnly: true, workerIds: [dead, live] });
        assert.deepEqual(nothing, { requeued: [], retried: [], failed: [], cancelled: [] }, "leases still valid");

        skew += 2 * LEASE;
        try {
          await store.renewLeases(live, leased); // the live worker's heartbeat; the dead one's never comes
          const res = await store.recoverStaleRuns({ lapsedOnly: true });
          assert.deepEqual(res.requeued.filter((id) => id === ahead.id), [ahead.id]);
          assert.deepEqual(res.retried.filter((id) => id === started1.id), [started1.id]);
          assert.deepEqual(res.failed.filter((id) => id === started0.id), [started0.id]);
          assert.ok(![...res.requeued, ...res.retried, ...res.failed, ...res.cancelled].includes(held.id), "a renewed lease is kept");

          const rAhead = await store.getRun(ahead.id);
          assert.deepEqual([rAhead?.status, rAhead?.attempt, rAhead?.workerId, rAhead?.leaseExpiresAt, rAhead?.error], ["queued", 1, null, null, null]);
          const r1 = await store.getRun(started1.id);
          assert.deepEqual([r1?.status, r1?.attempt, r1?.error?.name], ["queued", 2, "WorkerCrashError"]);
          assert.match(r1?.error?.message ?? "", new RegExp(`run ${started1.id} \\(attempt 1 of 2\\) was running on worker ${dead}, whose lease on it lapsed at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z .*retrying as attempt 2 in 1000 ms`));
          assert.equal(await retrying.claim("w-next"), null, "the retry waits for its backoff");
          const r0 = await store.getRun(started0.id);
          assert.deepEqual([r0?.status, r0?.attempt, r0?.error?.name, typeof r0?.finishedAt], ["failed", 1, "WorkerCrashError", "number"]);
          assert.match(r0?.error?.message ?? "", /whose lease on it lapsed at .*; no retries left/);
          // The dead worker, should it wake up, can no longer finish or mark what it lost.
          assert.equal(await store.finishRun(ahead.id, { status: "succeeded", workerId: dead }), false);
          assert.deepEqual(await store.markRunsStarted(dead, [{ id: ahead.id, startedAt: clock() }]), []);
          skew += 1_500;
          assert.equal((await retrying.claim("w-next"))?.id, started1.id, "retried after the backoff");
        } finally {
          skew -= 2 * LEASE + 1_500;
        }
      });

      it("nodes taking back lapsed runs at once never take the same run twice", async () => {
        const { ws, deployment, version } = await fixture();
        const dead = `dead-${randomUUID()}`;
        const made = await store.createRuns(Array.from({ length: 40 }, (_, i) => ({ workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args: [i] })));
        await store.claimNextRuns(dead, 40, { deploymentIds: [deployment.id], leaseMs: LEASE });
        await store.markRunsStarted(dead, made.filter((_, i) => i % 2).map((r) => ({ id: r.id, startedAt: clock() })));
        const second = harness.shared ? await harness.open({ now: clock }) : store;
        skew += 2 * LEASE;
        try {
          const results = await Promise.all([store, second, store, second].map((s) => s.recoverStaleRuns({ lapsedOnly: true, workerIds: [dead] })));
          const requeued = results.flatMap((r) => r.requeued);
          const failed = results.flatMap((r) => r.failed);
          assert.equal(requeued.length, 20, "each never-started run requeued once");
          assert.equal(failed.length, 20, "each started run (no retries) failed once");
          assert.equal(new Set([...requeued, ...failed]).size, 40);
        } finally {
          skew -= 2 * LEASE;
          if (second !== store) await second.close();
        }
      });
    });

    describe("transactions", () => {
      it("store.transaction commits together or not at all", async () => {
        const { ws, deployment, version } = await fixture();
        const base = { workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args: [] };
        const t0 = clock();
        const sched = await store.upsertSchedule({ deploymentId: deployment.id, cron: "* * * * *", nextTickAt: t0 });
        const ok = await store.transaction(async (tx) => {
          if (!(await tx.markTick(sched.id, t0, t0 + 60_000))) return null;
          const run = await tx.createRun({ ...base, scheduleId: sched.id });
          await tx.appendLogs(run.id, [{ line: "scheduled", stream: "system" }]);
          return run;
        });
        assert.equal((await store.getRun(ok!.id))?.scheduleId, sched.id);
        assert.equal((await store.getLogs(ok!.id)).length, 1);
        let rolledBack: string | undefined;
        await assert.rejects(
          store.transaction(async (tx) => {
            rolledBack = (await tx.createRun(base)).id;
            await tx.markTick(sched.id, t0 + 60_000, null);
            throw new Error("abort");
          }),
          /abort/,
        );
        assert.equal(await store.getRun(rolledBack!), null);
        assert.equal((await store.getSchedule(deployment.id))?.lastTickAt, t0);
      });
    });

    describe("logs", () => {
      it("seq increases per run in append order, also with concurrent appenders", async () => {
        const { newRun } = await fixture();
        const r = await newRun();
        const other = await newRun();
        assert.equal(await store.appendLogs(r.id, []), null);
        assert.deepEqual(await store.appendLogs(r.id, [{ line: "one" }, { line: "two", stream: "stderr" }]), { firstSeq: 1, lastSeq: 2 });
        await store.appendLogs(other.id, [{ line: "other" }]);
        await Promise.all(
          Array.from({ length: 5 }, (_, i) =>
            store.appendLogs(r.id, [{ line: `b${i}-0`, stream: "system", ts: 5 }, { line: `b${i}-1` }]),
          ),
        );
        const big = Array.from({ length: 1234 }, (_, i) => ({ line: `big ${i}` }));
        assert.deepEqual(await store.appendLogs(r.id, big), { firstSeq: 13, lastSeq: 1246 });
        const logs = await store.getLogs(r.id);
        assert.deepEqual(logs.map((l) => l.seq), Array.from({ length: 1246 }, (_, i) => i + 1));
        assert.deepEqual(logs.slice(0, 2).map((l) => [l.stream, l.line]), [["stdout", "one"], ["stderr", "two"]]);
        // Each batch stays contiguous.
        for (let i = 2; i < 12; i += 2) {
          assert.equal(logs[i]!.line.replace(/-0$/, ""), logs[i + 1]!.line.replace(/-1$/, ""));
          assert.equal(logs[i]!.ts, 5);
        }
        assert.equal(logs.at(-1)!.line, "big 1233");
        assert.deepEqual((await store.getLogs(r.id, { afterSeq: 1244 })).map((l) => l.seq), [1245, 1246]);
        assert.deepEqual((await store.getLogs(r.id, { afterSeq: 2, limit: 3 })).map((l) => l.seq), [3, 4, 5]);
        assert.deepEqual((await store.getLogs(other.id)).map((l) => [l.seq, l.line]), [[1, "other"]]);
        await store.appendLogs(r.id, [{ line: "nul\u0000byte" }]);
        assert.equal((await store.getLogs(r.id, { afterSeq: 1246 }))[0]?.line, "nul\uFFFDbyte");
        await rejectsWith(store.appendLogs("run_nope", [{ line: "x" }]), "NOT_FOUND");
      });

      it("a run keeps at most maxBytes of lines: the prefix that fits, one note when a batch crosses it, nothing after", async () => {
        const { newRun } = await fixture();
        const r = await newRun();
        const other = await newRun();
        // Each line counts its UTF-8 bytes and a fixed overhead: 8 + 8 fit, then "xy", and "é" is two
        // bytes, so "éabc" (5) crosses the limit.
        const o = LOG_LINE_OVERHEAD_BYTES;
        const max = 3 * o + 20;
        assert.deepEqual(await store.appendLogs(r.id, [{ line: "12345678" }, { line: "abcdefgh" }], { maxBytes: max }), { firstSeq: 1, lastSeq: 2 });
        assert.deepEqual(await store.appendLogs(r.id, [{ line: "xy" }, { line: "éabc" }, { line: "z" }], { maxBytes: max }), { firstSeq: 3, lastSeq: 4 });
        assert.equal(await store.appendLogs(r.id, [{ line: "later" }], { maxBytes: max }), null, "past the limit nothing is kept");
        assert.equal(await store.appendLogs(r.id, [{ line: "" }], { maxBytes: max }), null, "not even an empty line");
        const logs = await store.getLogs(r.id);
        assert.deepEqual(logs.map((l) => [l.seq, l.stream, l.line]), [
          [1, "stdout", "12345678"],
          [2, "stdout", "abcdefgh"],
          [3, "stdout", "xy"],
          [4, "system", `[nbox] this run's log reached its limit of ${max} bytes: further output is dropped`],
        ]);
        // The limit is per run, and a batch that fits exactly keeps every line.
        assert.deepEqual(await store.appendLogs(other.id, [{ line: "x".repeat(max - o) }], { maxBytes: max }), { firstSeq: 1, lastSeq: 1 });
        assert.deepEqual(await store.appendLogs(other.id, [{ line: "y" }, { line: "z" }], { maxBytes: max }), { firstSeq: 2, lastSeq: 2 });
        assert.deepEqual((await store.getLogs(other.id)).map((l) => l.stream), ["stdout", "system"]);
        await rejectsWith(store.appendLogs("run_nope", [{ line: "x" }], { maxBytes: max }), "NOT_FOUND");
        // Empty lines are not free: a flood of them stops at the limit too.
        const empty = await newRun();
        await store.appendLogs(empty.id, Array.from({ length: 1000 }, () => ({ line: "" })), { maxBytes: max });
        assert.deepEqual((await store.getLogs(empty.id)).map((l) => l.stream), ["stdout", "stdout", "stdout", "system"]);
        // A limit lowered below what a run already kept: its next line gets the note, once.
        const lowered = await newRun();
        await store.appendLogs(lowered.id, [{ line: "a".repeat(100) }], { maxBytes: 1000 });
        assert.deepEqual(await store.appendLogs(lowered.id, [{ line: "b" }], { maxBytes: 100 }), { firstSeq: 2, lastSeq: 2 });
        assert.equal(await store.appendLogs(lowered.id, [{ line: "c" }], { maxBytes: 100 }), null);
        assert.deepEqual((await store.getLogs(lowered.id)).map((l) => l.stream), ["stdout", "system"]);
      });

      it("with heldBy, only a run that worker holds takes the lines (others: null, nothing written)", async () => {
        const { newRun, deployment } = await fixture();
        const held = await newRun();
        const other = await newRun();
        const [claimed] = await store.claimNextRuns("worker-a", 1, { deploymentIds: [deployment.id] });
        assert.equal(claimed!.id, held.id);
        assert.deepEqual(await store.appendLogs(held.id, [{ line: "mine" }], { heldBy: "worker-a" }), { firstSeq: 1, lastSeq: 1 });
        assert.equal(await store.appendLogs(held.id, [{ line: "forged" }], { heldBy: "worker-b" }), null);
        assert.equal(await store.appendLogs(other.id, [{ line: "queued, held by nobody" }], { heldBy: "worker-a" }), null);
        assert.equal(await store.appendLogs("run_nope", [{ line: "x" }], { heldBy: "worker-a" }), null);
        assert.deepEqual((await store.getLogs(held.id)).map((l) => l.line), ["mine"]);
        assert.deepEqual(await store.getLogs(other.id), []);
        // A forged batch did not use up seq numbers.
        assert.deepEqual(await store.appendLogs(held.id, [{ line: "next" }], { heldBy: "worker-a" }), { firstSeq: 2, lastSeq: 2 });
      });
      it("lines numbered by their holder: a batch sent again adds nothing, one that overlaps only what is new, also after a reopen", async () => {
        const { newRun, deployment } = await fixture();
        const r = await newRun();
        const [claimed] = await store.claimNextRuns("worker-a", 1, { deploymentIds: [deployment.id] });
        assert.equal(claimed!.id, r.id);
        const numbered = (firstLineNo: number, ...texts: string[]) =>
          store.appendLogs(r.id, texts.map((line) => ({ line })), { heldBy: "worker-a", firstLineNo });
        assert.deepEqual(await numbered(5, "a", "b"), { firstSeq: 1, lastSeq: 2 });
        assert.equal(await numbered(5, "a", "b"), null, "sent again: nothing");
        assert.deepEqual(await numbered(6, "b", "c", "d"), { firstSeq: 3, lastSeq: 4 }, "overlapping: only what is new");
        // Lines without numbers (the platform's own, an earlier worker's) always go in, and move no mark.
        assert.deepEqual(await store.appendLogs(r.id, [{ line: "platform", stream: "system" }]), { firstSeq: 5, lastSeq: 5 });
        assert.deepEqual(await store.appendLogs(r.id, [{ line: "unnumbered" }], { heldBy: "worker-a" }), { firstSeq: 6, lastSeq: 6 });
        assert.equal(await numbered(5, "a", "b", "c", "d"), null);
        await store.close();
        store = await openStore();
        assert.equal(await numbered(6, "b", "c", "d"), null, "the mark outlives a restart");
        assert.deepEqual(await numbered(9, "e"), { firstSeq: 7, lastSeq: 7 });
        assert.deepEqual((await store.getLogs(r.id)).map((l) => l.line), ["a", "b", "c", "d", "platform", "unnumbered", "e"]);
        await rejectsWith(numbered(-1, "x"), "BAD_INPUT");
        await rejectsWith(numbered(1.5, "x"), "BAD_INPUT");
      });

      it("numbered lines of the run's next holder start afresh; the one before it cannot add its own again", async () => {
        const { newRun, deployment } = await fixture();
        const r = await newRun();
        await store.claimNextRuns("worker-a", 1, { deploymentIds: [deployment.id] });
        assert.deepEqual(await store.appendLogs(r.id, [{ line: "a 100" }, { line: "a 101" }], { heldBy: "worker-a", firstLineNo: 100 }), { firstSeq: 1, lastSeq: 2 });
        assert.equal((await store.requeueRuns([{ id: r.id, scheduledFor: null, error: null, workerId: "worker-a" }])).length, 1);
        assert.equal((await store.claimRuns([r.id], "worker-b")).length, 1);
        assert.deepEqual(await store.appendLogs(r.id, [{ line: "b 1" }], { heldBy: "worker-b", firstLineNo: 1 }), { firstSeq: 3, lastSeq: 3 });
        assert.equal(await store.appendLogs(r.id, [{ line: "b 1" }], { heldBy: "worker-b", firstLineNo: 1 }), null);
        assert.equal(await store.appendLogs(r.id, [{ line: "a 100" }], { heldBy: "worker-a", firstLineNo: 100 }), null, "not its run any more");
        // Back with the first worker: its numbers went on going up.
        assert.equal((await store.requeueRuns([{ id: r.id, scheduledFor: null, error: null, workerId: "worker-b" }])).length, 1);
        assert.equal((await store.claimRuns([r.id], "worker-a")).length, 1);
        assert.deepEqual(await store.appendLogs(r.id, [{ line: "a 300" }], { heldBy: "worker-a", firstLineNo: 300 }), { firstSeq: 4, lastSeq: 4 });
        assert.equal(await store.appendLogs(r.id, [{ line: "a 300" }], { heldBy: "worker-a", firstLineNo: 300 }), null);
        assert.deepEqual((await store.getLogs(r.id)).map((l) => l.line), ["a 100", "a 101", "b 1", "a 300"]);
      });

      it("with numbered lines the limit counts only what is kept, and a batch sent again after crossing it adds no second note", async () => {
        const { newRun, deployment } = await fixture();
        const r = await newRun();
        await store.claimNextRuns("worker-a", 1, { deploymentIds: [deployment.id] });
        const o = LOG_LINE_OVERHEAD_BYTES;
        const max = 3 * o + 20;
        const numbered = (firstLineNo: number, ...texts: string[]) =>
          store.appendLogs(r.id, texts.map((line) => ({ line })), { heldBy: "worker-a", maxBytes: max, firstLineNo });
        assert.deepEqual(await numbered(1, "12345678"), { firstSeq: 1, lastSeq: 1 });
        // The line skipped (taken already) costs nothing: 8 + 8 + 2 fit exactly, "éabc" crosses.
        assert.deepEqual(await numbered(1, "12345678", "abcdefgh", "xy", "éabc"), { firstSeq: 2, lastSeq: 4 });
        assert.equal(await numbered(1, "12345678", "abcdefgh", "xy", "éabc"), null);
        assert.equal(await numbered(5, "later"), null);
        assert.deepEqual((await store.getLogs(r.id)).map((l) => [l.stream, l.line]), [
          ["stdout", "12345678"],
          ["stdout", "abcdefgh"],
          ["stdout", "xy"],
          ["system", `[nbox] this run's log reached its limit of ${max} bytes: further output is dropped`],
        ]);
      });
    });

    describe("spans", () => {
      it("batched insert, ignores duplicates, queries by run / trace / serving", async () => {
        const { newRun, deployment } = await fixture();
        const r = await newRun();
        const traceId = randomUUID().replaceAll("-", "");
        const mk = (i: number, extra: object = {}) => ({
          traceId,
          spanId: `${traceId.slice(0, 8)}${String(i).padStart(8, "0")}`,
          parentSpanId: i === 0 ? null : `${traceId.slice(0, 8)}${"0".repeat(8)}`,
          op: i === 0 ? "MyOperator" : `MyOperator.b${i}`,
          name: "forward",
          start: 1_700_000_000_000.125 + (700 - i),
          end: 1_700_000_000_100.5,
          status: "ok" as const,
          attributes: { i },
          runId: r.id,
          ...extra,
        });
        const batch = Array.from({ length: 700 }, (_, i) => mk(i));
        assert.equal(await store.insertSpans(batch), 700);
        assert.equal(await store.insertSpans([mk(1), mk(2)]), 0, "re-sent spans are ignored");
        const failed = mk(9999, { status: "error", error: { name: "TypeError", message: "bad" }, runId: null, servingId: deployment.id });
        assert.equal(await store.insertSpans([failed]), 1);

        const byRun = await store.getSpans({ runId: r.id });
        assert.equal(byRun.length, 700);
        assert.deepEqual(byRun.map((s) => s.start), [...byRun.map((s) => s.start)].sort((a, b) => a - b));
        assert.equal(byRun.at(-1)!.start, 1_700_000_000_000.125 + 700, "double precision kept");
        assert.equal(byRun.at(-1)!.parentSpanId, null);
        assert.deepEqual(byRun[0]!.attributes, { i: 699 });
        assert.equal((await store.getSpans({ traceId })).length, 701);
        const bySrv = await store.getSpans({ servingId: deployment.id });
        assert.deepEqual(bySrv.map((s) => [s.status, s.error, s.runId]), [["error", { name: "TypeError", message: "bad" }, null]]);
        assert.equal((await store.getSpans({ traceId, limit: 5 })).length, 5);
        await rejectsWith(store.getSpans({}), "BAD_INPUT");
      });

      it("spans that come with a finish are kept in the run's row: read by run and by trace with the rest, in order, once each; not on reads of runs", async () => {
        const { newRun } = await fixture();
        const r = await newRun();
        const other = await newRun();
        const span = (id: string, start: number, extra: object = {}) => ({
          traceId: r.traceId, spanId: id, parentSpanId: null, op: "Outer", name: "forward", start, end: start + 1, status: "ok" as const, attributes: { id }, runId: r.id, ...extra,
        });
        // One span came early (a report before the finish): a row of its own.
        assert.equal(await store.insertSpans([span("aaaaaaaaaaaaaaa1", 10)]), 1);
        assert.ok(await store.claimRun(r.id, "w-kept"));
        const [done] = await store.finishRuns([
          { id: r.id, status: "succeeded", result: 1, workerId: "w-kept", spans: [span("aaaaaaaaaaaaaaa3", 30), span("aaaaaaaaaaaaaaa2", 20, { error: { name: "E", message: "nul \u0000 here" }, status: "error" })] },
        ]);
        assert.equal(done!.id, r.id);
        assert.ok(!("spans" in done!), "a finish's answer does not carry them");
        const byRun = await store.getSpans({ runId: r.id });
        assert.deepEqual(byRun.map((s) => s.spanId), ["aaaaaaaaaaaaaaa1", "aaaaaaaaaaaaaaa2", "aaaaaaaaaaaaaaa3"]);
        assert.deepEqual(byRun[1]!.error, { name: "E", message: "nul \ufffd here" }, "NUL replaced like every stored text");
        assert.deepEqual(byRun[2], { ...span("aaaaaaaaaaaaaaa3", 30), error: null, servingId: null });
        assert.deepEqual((await store.getSpans({ traceId: r.traceId })).map((s) => s.spanId), ["aaaaaaaaaaaaaaa1", "aaaaaaaaaaaaaaa2", "aaaaaaaaaaaaaaa3"]);
        assert.deepEqual((await store.getSpans({ runId: r.id, limit: 2 })).map((s) => s.spanId), ["aaaaaaaaaaaaaaa1", "aaaaaaaaaaaaaaa2"]);
        // The same spans sent again as rows (a report resent after its finish was applied): one of each.
        await store.insertSpans([span("aaaaaaaaaaaaaaa3", 30)]);
        assert.equal((await store.getSpans({ runId: r.id })).length, 3);
        assert.deepEqual(await store.getSpans({ runId: other.id }), []);
        for (const row of [await store.getRun(r.id), ...(await store.getRuns([r.id])), ...(await store.listRuns({ deploymentId: r.deploymentId }))]) {
          assert.ok(row && !("spans" in row), "reads of runs leave the kept spans out");
        }
        // A finish that is not applied (the run is finished already) keeps nothing.
        await store.finishRuns([{ id: r.id, status: "failed", workerId: "w-kept", spans: [span("aaaaaaaaaaaaaaa4", 40)] }]);
        assert.equal((await store.getSpans({ runId: r.id })).length, 3);
      });
    });

    describe("schedules", () => {
      it("due, markTick compare-and-set, upsert keeps the last tick", async () => {
        const { ws, deployment } = await fixture();
        const other = await fixture();
        const t0 = clock();
        const s = await store.upsertSchedule({ deploymentId: deployment.id, cron: "*/5 * * * *", nextTickAt: t0 - 1000 });
        assert.deepEqual([s.timezone, s.enabled, s.lastTickAt], ["UTC", true, null]);
        await store.upsertSchedule({ deploymentId: other.deployment.id, cron: "0 * * * *", nextTickAt: t0 + 3_600_000, timezone: "Europe/Paris" });

        const due = (await store.dueSchedules(t0)).filter((d) => [deployment.id, other.deployment.id].includes(d.deploymentId));
        assert.deepEqual(due.map((d) => d.id), [s.id]);
        assert.equal((await store.dueSchedules(t0 + 3_600_000)).some((d) => d.deploymentId === other.deployment.id), true);

        // Two schedulers race for the same tick: exactly one wins.
        const wins = await Promise.all([
          store.markTick(s.id, t0 - 1000, t0 + 299_000),
          store.markTick(s.id, t0 - 1000, t0 + 299_000),
        ]);
        assert.deepEqual(wins.sort(), [false, true]);
        assert.equal((await store.dueSchedules(t0)).some((d) => d.id === s.id), false);
        assert.equal(await store.markTick(s.id, t0 + 299_000, null), true);
        assert.equal((await store.dueSchedules(t0 + 10_000_000)).some((d) => d.id === s.id), false, "null next tick = ended");

        const again = await store.upsertSchedule({ deploymentId: deployment.id, cron: "* * * * *", nextTickAt: t0, enabled: false, endsAt: 0 });
        assert.deepEqual([again.id, again.cron, again.lastTickAt, again.enabled, again.endsAt], [s.id, "* * * * *", t0 + 299_000, false, 0]);
        assert.equal((await store.dueSchedules(t0)).some((d) => d.id === s.id), false, "disabled is never due");
        assert.equal(await store.setScheduleEnabled(deployment.id, true), true);
        assert.equal((await store.dueSchedules(t0)).some((d) => d.id === s.id), true);

        assert.deepEqual((await store.listSchedules({ workspaceId: ws.id })).map((x) => x.id), [s.id]);
        assert.equal((await store.getSchedule(other.deployment.id))?.timezone, "Europe/Paris");
        assert.equal(await store.deleteSchedule(other.deployment.id), true);
        assert.equal(await store.getSchedule(other.deployment.id), null);
      });
    });

    describe("events", () => {
      it("add and list by workspace / deployment / kind, newest first", async () => {
        const { ws, deployment } = await fixture();
        const e1 = await store.addEvent({ workspaceId: ws.id, deploymentId: deployment.id, kind: "serving.restarted", message: "restarted after crash", data: { exitCode: 1 } });
        const e2 = await store.addEvent({ workspaceId: ws.id, deploymentId: deployment.id, kind: "schedule.missed", message: "missed 2 ticks" });
        const e3 = await store.addEvent({ workspaceId: ws.id, kind: "custom.thing", message: "x" });
        const platformWide = await store.addEvent({ kind: "run.recovered", message: "startup" });
        assert.equal(platformWide.workspaceId, null);
        assert.deepEqual((await store.listEvents({ workspaceId: ws.id })).map((e) => e.id), [e3.id, e2.id, e1.id]);
        assert.deepEqual((await store.listEvents({ deploymentId: deployment.id })).map((e) => e.id), [e2.id, e1.id]);
        const restarted = await store.listEvents({ workspaceId: ws.id, kind: "serving.restarted" });
        assert.deepEqual(restarted.map((e) => [e.id, e.data, e.message]), [[e1.id, { exitCode: 1 }, "restarted after crash"]]);
        assert.deepEqual((await store.listEvents({ workspaceId: ws.id, before: e2.id })).map((e) => e.id), [e1.id]);
        assert.equal((await store.listEvents({ workspaceId: ws.id, limit: 1 })).length, 1);
      });
    });

    describe("retention", () => {
      it("deletes what ended before the cut-off (runs with their logs and spans, events, serving spans), in batches; never a run still queued or running", async () => {
        const DAY = 86_400_000;
        const { ws, deployment, newRun } = await fixture();
        const span = (runId: string | null, id: string, start: number, servingId: string | null = null) => ({
          traceId: "f".repeat(32), spanId: id, parentSpanId: null, op: "op", name: "forward", start, end: start + 1, status: "ok" as const, attributes: {}, runId, servingId,
        });
        // Now: two runs that end (one with a log line, a span row and a span kept in its row), one
        // still running, one still queued, an event and a serving request's span. (Ids never go back
        // in time, so the clock moves forward to make the rest "recent" instead of this "old".)
        const oldStart = clock();
        const [a, b, running, queued] = [await newRun(), await newRun(), await newRun(), await newRun()];
        for (const r of [a, b, running]) assert.ok(await store.claimRun(r.id, "w-ret"));
        await store.appendLogs(a.id, [{ line: "old line" }], { heldBy: "w-ret" });
        await store.insertSpans([span(a.id, "bbbbbbbbbbbbbbb1", oldStart)]);
        await store.finishRuns([
          { id: a.id, status: "succeeded", result: 1, workerId: "w-ret", spans: [span(a.id, "bbbbbbbbbbbbbbb2", oldStart)] },
          { id: b.id, status: "failed", error: { name: "E", message: "x" }, workerId: "w-ret" },
        ]);
        const oldEvent = await store.addEvent({ workspaceId: ws.id, kind: "custom.old", message: "old" });
        await store.insertSpans([span(null, "bbbbbbbbbbbbbbb3", oldStart, deployment.id)]);
        const old = { ended: [a.id, b.id], running: running.id, queued: queued.id, event: oldEvent.id };
        // Ten days later: a run that ended, an event and a serving span — inside a five-day window.
        skew += 10 * DAY;
        try {
          const recent = await newRun();
          assert.ok(await store.claimRun(recent.id, "w-ret"));
          await store.finishRuns([{ id: recent.id, status: "succeeded", result: 2, workerId: "w-ret" }]);
          const recentEvent = await store.addEvent({ workspaceId: ws.id, kind: "custom.new", message: "new" });
          await store.insertSpans([span(null, "bbbbbbbbbbbbbbb4", clock(), deployment.id)]);
          const cutoff = clock() - 5 * DAY;
          // One at a time first (the batch bound holds), then the rest.
          assert.equal(await store.deleteRunsEndedBefore(cutoff, 1), 1);
          let gone = 1;
          for (let n = 1; n > 0; ) gone += n = await store.deleteRunsEndedBefore(cutoff, 1_000);
          assert.ok(gone >= 2, `at least this test's two ended runs went (${gone})`);
          for (const id of old.ended) assert.equal(await store.getRun(id), null, `ended run ${id} deleted`);
          assert.equal((await store.getRun(old.running))?.status, "running", "a running run stays, however old");
          assert.equal((await store.getRun(old.queued))?.status, "queued", "a queued run stays, however old");
          assert.equal((await store.getRun(recent.id))?.status, "succeeded", "a run that ended inside the window stays");
          assert.deepEqual(await store.getLogs(old.ended[0]!), [], "its log lines went with it");
          assert.deepEqual(await store.getSpans({ runId: old.ended[0]! }), [], "its spans (rows and kept) went with it");

          assert.ok((await store.deleteEventsBefore(cutoff, 1_000)) >= 1);
          const events = (await store.listEvents({ workspaceId: ws.id })).map((e) => e.id);
          assert.ok(!events.includes(old.event) && events.includes(recentEvent.id), "the old event went, the recent one stayed");

          assert.ok((await store.deleteServingSpansBefore(cutoff, 1_000)) >= 1);
          assert.deepEqual((await store.getSpans({ servingId: deployment.id })).map((x) => x.spanId), ["bbbbbbbbbbbbbbb4"]);
          assert.equal(await store.deleteServingSpansBefore(cutoff, 1_000), 0, "nothing left to delete");
        } finally {
          skew -= 10 * DAY;
        }
      });
    });

    describe("servings", () => {
      it("status upserts patch only given fields; counters", async () => {
        const { ws, deployment, version } = await fixture();
        const s0 = await store.upsertServingStatus({ deploymentId: deployment.id, status: "starting", versionId: version.id, urlPath: `/s/${ws.name}/job/`, pid: 0 });
        assert.deepEqual([s0.status, s0.restarts, s0.requestCount, s0.pid, s0.lastError], ["starting", 0, 0, 0, null]);
        const s1 = await store.upsertServingStatus({ deploymentId: deployment.id, status: "ready", pid: 4242 });
        assert.deepEqual([s1.status, s1.urlPath, s1.versionId, s1.pid], ["ready", `/s/${ws.name}/job/`, version.id, 4242]);
        await store.upsertServingStatus({ deploymentId: deployment.id, status: "crashed", lastError: "exit 1", pid: null });
        const s3 = await store.upsertServingStatus({ deploymentId: deployment.id, status: "starting", incrementRestarts: true });
        assert.deepEqual([s3.restarts, s3.lastError, s3.pid], [1, "exit 1", null]);
        assert.equal((await store.upsertServingStatus({ deploymentId: deployment.id, status: "ready", restarts: 0 })).restarts, 0);
        assert.equal(await store.incrementRequests(deployment.id), true);
        await Promise.all(Array.from({ length: 10 }, () => store.incrementRequests(deployment.id, 2)));
        assert.equal((await store.getServing(deployment.id))?.requestCount, 21);
        assert.equal(await store.incrementRequests("dep_nope"), false);
        assert.deepEqual((await store.listServings({ workspaceId: ws.id })).map((s) => s.deploymentId), [deployment.id]);
        assert.ok((await store.listServings()).some((s) => s.deploymentId === deployment.id));
        assert.equal(await store.getServing("dep_nope"), null);
      });
    });
  });
}
