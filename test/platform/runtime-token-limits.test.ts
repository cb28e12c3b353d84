// A job holds a token of its own workspace, and may revoke that workspace's tokens, its own runtime
// token too; the SDK then asks the worker, and the worker the control plane, for a new one. Revoking
// in a loop must not mint a token row per turn for good: re-mints are paced per worker and workspace
// (at once the first few times, then waits doubling up to a minute; a refused ask is a 429 saying
// the token was revoked repeatedly), the store keeps only the newest revoked ones, and retention
// deletes revoked runtime tokens a day after their revocation — never tokens people made.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Hono } from "hono";
import { getRequestListener } from "@hono/node-server";
import { openStore, type Store } from "../../src/platform/store/index.ts";
import { Lookups } from "../../src/platform/lookups.ts";
import type { PlatformContext } from "../../src/platform/context.ts";
import { REMINT_PACE, RuntimeTokens, RuntimeTokenRevokedRepeatedly, remintWaitMs } from "../../src/platform/workers/runtime-tokens.ts";
import { workerRoutes, type WorkerApiDeps } from "../../src/platform/api/routes-worker.ts";
import { onApiError } from "../../src/platform/api/errors.ts";
import type { ApiEnv } from "../../src/platform/api/env.ts";
import type { TokenInfo } from "../../src/platform/store/tokens-repo.ts";
import { Retention } from "../../src/platform/retention.ts";
import { PlatformClient } from "../../src/remote/client.ts";
import { importProject, startTestPlatform, wsName, type TestPlatform } from "./serving/_helpers.ts";

const DAY = 24 * 60 * 60_000;
const WORKER = "wrk_limits";

describe("runtime tokens revoked in a loop", () => {
  let dataDir: string;
  let store: Store;
  let clock = 1_700_000_000_000;
  const now = () => clock;
  let ctx: PlatformContext;
  let seq = 0;

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "nbox-runtime-limits-"));
    store = await openStore({ dataDir, now });
    ctx = { store, lookups: new Lookups(store, { tokenEpochCheckMs: 0 }), publicUrl: "http://cp.test" } as unknown as PlatformContext;
  });
  after(async () => {
    await store?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const workspace = async () => (await store.ensureWorkspace(`limits-${++seq}`)).id;
  const runtimeRows = async (workspaceId: string) => (await store.listTokens(workspaceId)).filter((t) => t.name.startsWith("runtime:"));
  const revoke = async (secret: string) => {
    const t = await store.verifyToken(secret);
    assert.ok(t, "the token handed out is live");
    assert.equal(await store.revokeToken(t.id), true);
  };

  it("one revocation (a leaked token revoked by hand) is followed by a new token at once", async () => {
    const ws = await workspace();
    const tokens = new RuntimeTokens(ctx, { now });
    const first = await tokens.forWorker(WORKER, ws);
    assert.equal(await tokens.forWorker(WORKER, ws), first, "the same live token while it lives");
    await revoke(first);
    const second = await tokens.forWorker(WORKER, ws);
    assert.notEqual(second, first);
    assert.ok(await store.verifyToken(second));
    // Revoked again a moment later (the operator found a second leak): still at once.
    await revoke(second);
    assert.ok(await store.verifyToken(await tokens.forWorker(WORKER, ws)));
  });

  it("revoke → ask in a loop: a few new tokens, then refusals saying so and when to ask again; rows stay bounded", async () => {
    const ws = await workspace();
    const tokens = new RuntimeTokens(ctx, { now });
    let current = await tokens.forWorker(WORKER, ws);
    let minted = 1;
    const refusals: RuntimeTokenRevokedRepeatedly[] = [];
    for (let i = 0; i < 300; i++) {
      if (await store.verifyToken(current)) await revoke(current);
      try {
        current = await tokens.forWorker(WORKER, ws);
        minted++;
      } catch (err) {
        assert.ok(err instanceof RuntimeTokenRevokedRepeatedly, String(err));
        refusals.push(err);
      }
    }
    assert.equal(minted, 1 + REMINT_PACE.free, "the first mint and the free re-mints; the clock did not move");
    assert.equal(refusals.length, 300 - REMINT_PACE.free);
    const refusal = refusals.at(-1)!;
    assert.equal(refusal.retryAfterMs, REMINT_PACE.firstWaitMs);
    assert.match(refusal.message, new RegExp(`runtime token of workspace ${ws} was revoked repeatedly`));
    assert.equal((await runtimeRows(ws)).length, minted);

    // As time passes, each new token waits twice as long as the one before, up to a minute.
    const waits: number[] = [];
    for (let i = 0; i < 40; i++) {
      if (await store.verifyToken(current)) await revoke(current);
      const refused = await tokens.forWorker(WORKER, ws).then(
        () => assert.fail("minted again without waiting"),
        (err: unknown) => err as RuntimeTokenRevokedRepeatedly,
      );
      assert.ok(refused instanceof RuntimeTokenRevokedRepeatedly);
      waits.push(refused.retryAfterMs);
      clock += refused.retryAfterMs - 1;
      await assert.rejects(tokens.forWorker(WORKER, ws), RuntimeTokenRevokedRepeatedly, "one millisecond early");
      clock += 1;
      current = await tokens.forWorker(WORKER, ws);
    }
    assert.deepEqual(waits.slice(0, 8), [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    assert.ok(waits.every((w) => w <= REMINT_PACE.maxWaitMs));
    // 45 tokens were minted in all; the store kept the live one and the newest revoked ones.
    const rows = await runtimeRows(ws);
    assert.equal(rows.length, REMINT_PACE.keepRevoked + 1);
    assert.equal(rows.filter((t) => !t.revokedAt).length, 1);
  });

  it("a control plane that restarted mints a worker's token anew and revokes the one from before: never two live", async () => {
    const ws = await workspace();
    const before = await new RuntimeTokens(ctx, { now }).forWorker(WORKER, ws);
    const other = await new RuntimeTokens(ctx, { now }).forWorker("wrk_other", ws);
    clock += 1_000;
    const restarted = new RuntimeTokens(ctx, { now });
    const after = await restarted.forWorker(WORKER, ws);
    assert.notEqual(after, before);
    assert.equal(await ctx.lookups.token(before), null, "the token minted before the restart is revoked (and no longer cached)");
    assert.ok(await store.verifyToken(other), "another worker's token stays");
    assert.equal(await restarted.forWorker(WORKER, ws), after, "and the new one is held from then on");
    assert.deepEqual((await runtimeRows(ws)).filter((t) => t.name === `runtime:${WORKER}` && !t.revokedAt).map((t) => t.id), [(await store.verifyToken(after))!.id]);
  });

  it("a token that lived a quiet while before it was revoked is minted again at once", async () => {
    const ws = await workspace();
    const tokens = new RuntimeTokens(ctx, { now });
    let current = await tokens.forWorker(WORKER, ws);
    for (let i = 0; i < REMINT_PACE.free; i++) {
      await revoke(current);
      current = await tokens.forWorker(WORKER, ws);
    }
    await revoke(current);
    await assert.rejects(tokens.forWorker(WORKER, ws), RuntimeTokenRevokedRepeatedly);
    clock += REMINT_PACE.quietMs;
    current = await tokens.forWorker(WORKER, ws);
    // The count started again: the free re-mints are there again.
    for (let i = 0; i < REMINT_PACE.free - 1; i++) {
      await revoke(current);
      current = await tokens.forWorker(WORKER, ws);
    }
    assert.equal(remintWaitMs(REMINT_PACE.free), 0);
    assert.equal(remintWaitMs(REMINT_PACE.free + 1), REMINT_PACE.firstWaitMs);
  });

  it("paces of workers and workspaces quiet for a while are forgotten (the map does not grow with departed workers)", async () => {
    const ws = await workspace();
    const tokens = new RuntimeTokens(ctx, { now });
    const paced = (tokens as unknown as { paced: Map<string, unknown> }).paced;
    for (let i = 0; i < 50; i++) await tokens.forWorker(`wrk_gone_${i}`, ws);
    assert.equal(paced.size, 50);
    clock += REMINT_PACE.quietMs;
    await tokens.forWorker("wrk_still_here", ws);
    assert.deepEqual([...paced.keys()], [`wrk_still_here/${ws}`]);
  });

  it("the store keeps the newest revoked runtime tokens of a worker and workspace, however they came", async () => {
    const ws = await workspace();
    const tokens = new RuntimeTokens(ctx, { now, pace: { free: 1_000 } });
    let current = await tokens.forWorker(WORKER, ws);
    for (let i = 0; i < 60; i++) {
      await revoke(current);
      current = await tokens.forWorker(WORKER, ws);
    }
    const rows = await runtimeRows(ws);
    assert.equal(rows.length, REMINT_PACE.keepRevoked + 1);
    // Another worker's tokens of the same workspace are its own count.
    const other = await tokens.forWorker("wrk_other", ws);
    assert.ok(await store.verifyToken(other));
    assert.equal((await runtimeRows(ws)).length, REMINT_PACE.keepRevoked + 2);
  });

  it("the route answers a refused re-mint with 429, Retry-After and the workspace's name; the worker's client gets that error", async () => {
    const wsRow = await store.ensureWorkspace(`limits-route-${++seq}`);
    const worker = await store.createToken({ scope: "worker", name: "route test worker" });
    const tokens = new RuntimeTokens(ctx, { now });
    const hub = { get: async () => ({ id: WORKER }), runtimeTokens: tokens } as unknown as WorkerApiDeps["hub"];
    const api = new Hono<ApiEnv>();
    api.use("*", async (c, next) => {
      c.set("principal", worker.token as TokenInfo);
      await next();
    });
    api.route("/", workerRoutes(ctx, { hub } as WorkerApiDeps));
    api.onError(onApiError);
    const ask = () => api.request("/worker/runtime-token", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ workerId: WORKER, workspaceId: wsRow.id }) });

    let res = await ask();
    assert.equal(res.status, 200);
    let token = ((await res.json()) as { token: string }).token;
    for (let i = 0; i < REMINT_PACE.free; i++) {
      await revoke(token);
      res = await ask();
      assert.equal(res.status, 200, "a re-mint after a revocation");
      token = ((await res.json()) as { token: string }).token;
    }
    await revoke(token);
    res = await ask();
    assert.equal(res.status, 429);
    assert.equal(res.headers.get("retry-after"), "1");
    const body = (await res.json()) as { ok: false; error: { code: string; name: string; message: string } };
    assert.equal(body.error.name, "RuntimeTokenRevokedRepeatedly");
    assert.equal(body.error.code, "RATE_LIMITED");
    assert.match(body.error.message, new RegExp(`runtime token of workspace ${wsRow.name} was revoked repeatedly`));
    assert.match(body.error.message, /nbx token list/);

    // The worker's own client (launcher → POST /worker/runtime-token) fails at once with that message.
    const root = new Hono().route("/api/v1", api);
    const server = http.createServer(getRequestListener(root.fetch));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const cp = new PlatformClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: "nbx_unused" });
      await assert.rejects(cp.call("POST /worker/runtime-token", { body: { workerId: WORKER, workspaceId: wsRow.id } }), (e: Error & { code?: string; status?: number; retryAfterMs?: number }) => {
        assert.equal(e.status, 429);
        assert.equal(e.code, "RATE_LIMITED");
        assert.equal(e.retryAfterMs, 1_000, "the worker learns how long its run must wait in the queue");
        assert.match(e.message, /was revoked repeatedly/);
        return true;
      });
    } finally {
      server.close();
    }
    // Once the wait is over, a new token.
    clock += 1_000;
    assert.equal((await ask()).status, 200);
  });

  it("retention deletes runtime tokens revoked a day ago; live ones, recent ones and tokens people made stay", async () => {
    const ws = await workspace();
    const oldRuntime = await store.createRuntimeToken("wrk_gone", ws);
    const liveRuntime = await store.createRuntimeToken("wrk_alive", ws);
    const byHand = await store.createToken({ scope: "workspace", workspaceId: ws, name: "ci deploys" });
    await store.revokeToken(oldRuntime.id);
    await store.revokeToken(byHand.id);
    clock += 2 * DAY;
    const recentRuntime = await store.createRuntimeToken("wrk_other", ws);
    await store.revokeToken(recentRuntime.id);

    const retention = new Retention(store, { blobsDir: path.join(dataDir, "blobs"), now });
    const pass = await retention.pass();
    assert.ok(pass.runtimeTokens >= 1, `deleted ${pass.runtimeTokens}`);
    const left = new Map((await store.listTokens(ws)).map((t) => [t.id, t]));
    assert.equal(left.has(oldRuntime.id), false, "the runtime token revoked two days ago went");
    assert.ok(left.has(liveRuntime.id), "a live runtime token stays, however old");
    assert.ok(left.has(recentRuntime.id), "a runtime token revoked just now stays");
    assert.ok(left.get(byHand.id)?.revokedAt, "a revoked token someone made stays, for the record");
  });

  it("names of runtime tokens are reserved: nobody makes a token that retention would take for one", async () => {
    const ws = await workspace();
    await assert.rejects(store.createToken({ scope: "workspace", workspaceId: ws, name: `runtime:${WORKER}` }), /reserved/);
  });
});

describe("a job revoking its own runtime token in a loop (end to end)", () => {
  let tp: TestPlatform;
  let mod: any;
  const ws = wsName("revoker");

  before(async () => {
    tp = await startTestPlatform();
    ({ mod } = await importProject({
      "package.json": JSON.stringify({ name: "runtime-token-revoker", private: true, type: "module" }),
      "ops.ts": `import { connect, operator } from "nbox";
export const revokeLoop = operator(async function revokeLoop(n: number) {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    try {
      const client = connect();
      const { tokens } = (await client.call("GET /tokens")) as { tokens: Array<{ id: string; name: string; revokedAt: unknown }> };
      for (const t of tokens) if (t.name.startsWith("runtime:") && !t.revokedAt) await client.call("DELETE /tokens/{id}", { params: { id: t.id } });
      await connect().call("GET /tokens");
      out.push("renewed");
    } catch (e: any) {
      out.push(String(e?.code ?? e) + (/no new token could be had: .*revoked repeatedly/.test(String(e?.message)) ? " (told why)" : ""));
    }
  }
  return out;
});
`,
    }));
  });
  after(async () => {
    await tp?.close();
  });

  it("gets a few new tokens, then its requests are refused; the workspace keeps a bounded number of token rows", async () => {
    const loop = await mod.revokeLoop.deploy(ws, { client: tp.client });
    const outcomes = (await loop(50)) as string[];
    assert.equal(outcomes.length, 50, "the loop ended: no hang");
    assert.equal(outcomes[0], "renewed", "the first revocation is followed by a new token at once");
    const refused = outcomes.filter((o) => o !== "renewed");
    assert.ok(refused.length > 0, `some renewals were refused: ${outcomes.join(",")}`);
    assert.ok(refused.every((o) => o === "UNAUTHORIZED (told why)"), `the refusal says the token was revoked repeatedly: ${outcomes.join(",")}`);
    const wsId = (await tp.platform.ctx.store.getWorkspaceByName(ws))!.id;
    const rows = (await tp.platform.ctx.store.listTokens(wsId)).filter((t) => t.name.startsWith("runtime:"));
    const perWorker = new Map<string, number>();
    for (const t of rows) perWorker.set(t.name, (perWorker.get(t.name) ?? 0) + 1);
    for (const [name, n] of perWorker) assert.ok(n <= REMINT_PACE.keepRevoked + 1, `${n} token rows named ${name}`);
  });
});
