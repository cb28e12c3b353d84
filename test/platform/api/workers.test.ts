// GET /workers shows operators the workers of a platform: shared infrastructure, so admin tokens
// only (workspace and worker tokens get 403); live ones with their slots and the runs they hold,
// and gone ones for a day (all of them with ?all=true).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eq } from "drizzle-orm";
import { workers } from "../../../src/platform/store/schema.ts";
import { call, createWorkerToken, eventually, importProject, startTestPlatform, wsName, type TestPlatform } from "../../worker/_helpers.ts";

interface WorkerView {
  id: string;
  name: string;
  slots: number;
  address: string | null;
  local: boolean;
  sandbox: "bwrap" | "none" | null;
  registeredAt: string;
  lastSeenAt: string;
  alive: boolean;
  goneAt: string | null;
  running: number;
}

describe("platform API: GET /workers", () => {
  let tp: TestPlatform;
  const list = async (query = ""): Promise<WorkerView[]> => {
    const r = await tp.api("GET", `/workers${query}`);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return r.json.workers as WorkerView[];
  };
  const localWorker = async () => (await list()).find((w) => w.local && w.alive);

  before(async () => {
    tp = await startTestPlatform({ slots: 3 });
  });
  after(async () => {
    await tp?.close();
  });

  it("an admin sees the local worker: alive, its slots, how it runs user code, when it joined and beat", async () => {
    const w = await localWorker();
    assert.ok(w, "the local worker of nbx up is listed");
    assert.equal(w.slots, 3);
    assert.equal(w.alive, true);
    assert.equal(w.goneAt, null);
    assert.equal(w.running, 0);
    assert.match(w.id, /^wrk_/);
    assert.match(w.address ?? "", /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(w.sandbox === "bwrap" || w.sandbox === "none", `sandbox: ${w.sandbox}`);
    assert.equal(w.sandbox, tp.platform.sandbox.kind, "the kind nbx up reports");
    assert.equal((await tp.platform.ctx.store.getWorker(w.id))?.sandbox?.kind, w.sandbox, "kept in the store, not only in this node's memory");
    for (const t of [w.registeredAt, w.lastSeenAt]) assert.equal(new Date(t).toISOString(), t);
    assert.ok(Date.parse(w.lastSeenAt) >= Date.parse(w.registeredAt));
  });

  it("counts the runs a worker holds running", async () => {
    const { mod } = await importProject("basic");
    const sleeper = await mod.sleeper.deploy(wsName("workers"), { client: tp.client, resource: { maxRetries: 0 } });
    const run = await sleeper.trigger(600_000);
    const held = await eventually(async () => (await list()).find((w) => w.running === 1), 60_000, "a worker holding the run");
    assert.equal(held.alive, true);
    const cancelled = await tp.api("POST", `/runs/${run.id}/cancel`);
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.json));
    await eventually(async () => (await list()).every((w) => w.running === 0), 60_000, "the cancelled run let go");
  });

  it("workspace tokens and worker tokens get 403; no token 401", async () => {
    const ws = await tp.api("POST", "/tokens", { workspace: wsName("workers-ws") });
    assert.equal(ws.status, 201);
    const asWorkspace = await call(tp.url, ws.json.secret, "GET", "/api/v1/workers");
    assert.equal(asWorkspace.status, 403);
    assert.equal(asWorkspace.json.error.code, "FORBIDDEN");
    const worker = await createWorkerToken(tp.url, tp.token, "workers listing test");
    try {
      assert.equal((await call(tp.url, worker.secret, "GET", "/api/v1/workers")).status, 403);
    } finally {
      await worker.revoke();
    }
    assert.equal((await fetch(`${tp.url}/api/v1/workers`)).status, 401);
  });

  it("gone workers are listed after the live ones for a day; ?all=true lists older ones too", async () => {
    const store = tp.platform.ctx.store;
    const token = await createWorkerToken(tp.url, tp.token, "gone workers test");
    try {
      const recent = await store.registerWorker({ name: "recently-gone", address: null, slots: 1, local: false, tokenId: token.id, sandbox: { kind: "bwrap", detail: "bubblewrap 0.8.0" } });
      const old = await store.registerWorker({ name: "long-gone", address: null, slots: 1, local: false, tokenId: token.id });
      await store.markWorkersGone({ ids: [recent.id, old.id] });
      await store.db.update(workers).set({ goneAt: Date.now() - 2 * 24 * 60 * 60 * 1000 }).where(eq(workers.id, old.id));

      const shown = await list();
      const r = shown.find((w) => w.id === recent.id);
      assert.ok(r, "a worker gone a moment ago is listed");
      assert.equal(r.alive, false);
      assert.equal(new Date(r.goneAt!).toISOString(), r.goneAt);
      assert.equal(r.sandbox, "bwrap", "kept with the worker: known after it is gone, or after a restart of the control plane");
      assert.equal(shown.find((w) => w.id === old.id)?.sandbox ?? null, null, "not known for a worker that registered without saying");
      assert.equal(shown.some((w) => w.id === old.id), false, "a worker gone two days ago is not");
      const firstGone = shown.findIndex((w) => !w.alive);
      assert.ok(shown.slice(firstGone).every((w) => !w.alive), "live workers come first");

      const all = await list("?all=true");
      assert.ok(all.some((w) => w.id === old.id && !w.alive));
    } finally {
      await token.revoke();
    }
  });
});
