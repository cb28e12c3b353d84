// The token the platform hands user code (NBOX_TOKEN in a job or serving) is a workspace token of
// the run's own workspace: enough to call deployments next to it, useless anywhere else.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { importProject, startTestPlatform, wsName, type TestPlatform } from "../platform/serving/_helpers.ts";
import { PROBE_FILES, type Attempt } from "./_probe.ts";

type ApiResult = Attempt<{ status: number; text: string }>;

describe("the runtime token of a job or serving", () => {
  let tp: TestPlatform;
  let mod: any;
  const home = wsName("home");
  const other = wsName("other");
  let homeId: string;

  before(async () => {
    tp = await startTestPlatform();
    ({ mod } = await importProject(PROBE_FILES));
    await mod.square.deploy(home, { client: tp.client });
    await mod.square.deploy(other, { client: tp.client });
    await mod.Probe.deploy(other, { client: tp.client });
    homeId = (await tp.platform.ctx.store.getWorkspaceByName(home))!.id;
  });

  after(async () => {
    await tp?.close();
  });

  /** What the token can and cannot do, asked from inside user code through `api`. */
  async function assertConfined(api: (method: string, path: string, body?: unknown) => Promise<ApiResult>, nested: (name: string, ws: string, x: number) => Promise<Attempt<number>>) {
    const status = async (method: string, path: string, body?: unknown) => {
      const r = await api(method, path, body);
      assert.ok(r.ok, JSON.stringify(r));
      return r.value;
    };
    // No token administration: listing shows at most its own workspace's tokens, creating is refused.
    const listed = await status("GET", "/api/v1/tokens");
    if (listed.status !== 403) {
      assert.equal(listed.status, 200, listed.text);
      const tokens = JSON.parse(listed.text).tokens as Array<{ scope: string; workspaceId: string | null }>;
      assert.ok(tokens.every((t) => t.scope !== "admin" && t.workspaceId === homeId), listed.text);
    }
    assert.equal((await status("POST", "/api/v1/tokens", { admin: true })).status, 403, "minted an admin token");
    assert.equal((await status("POST", "/api/v1/tokens", { workspace: other })).status, 403, "minted a token for another workspace");
    // Nothing in another workspace: no listing, no trigger, no serving call.
    assert.equal((await status("GET", `/api/v1/workspaces/${other}/deployments`)).status, 403);
    assert.equal((await status("POST", `/api/v1/workspaces/${other}/deployments/square/runs`, { args: [3] })).status, 403, "triggered a job in another workspace");
    assert.equal((await status("GET", `/s/${other}/Probe/who_are_you`)).status, 403, "called a serving of another workspace");
    const foreign = await nested("square", other, 3);
    assert.equal(foreign.ok, false);
    assert.equal((foreign as { code?: string }).code, "FORBIDDEN");
    // The workspace's other tokens are not its to manage: a person's token is not revoked, a serving's not rotated.
    const person = (await tp.api("POST", "/tokens", { workspace: home, name: "a person" })).json;
    const revoking = await status("DELETE", `/api/v1/tokens/${person.token.id}`);
    assert.equal(revoking.status, 403, revoking.text);
    assert.match(revoking.text, /may revoke only itself/);
    assert.ok(await tp.platform.ctx.store.verifyToken(person.secret), "user code revoked a person's token");
    assert.equal((await status("POST", `/api/v1/workspaces/${home}/servings/Probe/token`)).status, 403, "user code rotated a serving's token");
    // Its own workspace: a nested job call works, also by name alone (the token's workspace, not "default").
    assert.deepEqual(await nested("square", home, 3), { ok: true, value: 9 });
    assert.deepEqual(await nested("square", "", 5), { ok: true, value: 25 });
  }

  it("from a job: confined to the job's workspace", async () => {
    const [api, nested] = await Promise.all([mod.api.deploy(home, { client: tp.client }), mod.nested.deploy(home, { client: tp.client })]);
    await assertConfined(api, nested);
  });

  it("from a serving: confined to the serving's workspace", async () => {
    const probe = await mod.Probe.deploy(home, { client: tp.client });
    await assertConfined(
      (m, p, b) => probe.api(m, p, b),
      (n, w, x) => probe.nested(n, w, x),
    );
  });

  it("is one workspace token per workspace and worker, named runtime:<worker>, never the admin token", async () => {
    const [env, probe] = await Promise.all([mod.env.deploy(home, { client: tp.client }), mod.Probe.deploy(home, { client: tp.client })]);
    const fromJob = (await env()).NBOX_TOKEN as string;
    const fromServing = (await probe.env()).NBOX_TOKEN as string;
    assert.equal(fromJob, fromServing);
    assert.notEqual(fromJob, tp.token);
    const info = await tp.platform.ctx.store.verifyToken(fromJob);
    assert.deepEqual({ scope: info?.scope, workspaceId: info?.workspaceId }, { scope: "workspace", workspaceId: homeId });
    assert.match(info?.name ?? "", /^runtime:wrk_/, "minted for the worker that runs it");
  });

  it("once revoked (say it leaked), new processes of the workspace get a fresh one", async () => {
    const env = await mod.env.deploy(home, { client: tp.client, name: "env-before-revoke" });
    const leaked = (await env()).NBOX_TOKEN as string;
    const id = (await tp.platform.ctx.store.verifyToken(leaked))!.id;
    assert.equal((await tp.api("DELETE", `/tokens/${id}`)).status, 200);
    assert.equal(await tp.platform.ctx.store.verifyToken(leaked), null);
    // A new deployment starts a new process: it must not be handed the revoked token.
    const nested = await mod.nested.deploy(home, { client: tp.client, name: "nested-after-revoke" });
    assert.deepEqual(await nested("square", home, 4), { ok: true, value: 16 });
    const fresh = (await (await mod.env.deploy(home, { client: tp.client, name: "env-after-revoke" }))()).NBOX_TOKEN as string;
    assert.notEqual(fresh, leaked);
  });

  it("once revoked, processes already running get the fresh one at their next request (job and serving)", async () => {
    const [around, probe] = await Promise.all([
      mod.tokenAround.deploy(home, { client: tp.client, name: "around-renew" }),
      mod.Probe.deploy(home, { client: tp.client, name: "probe-renew" }),
    ]);
    type Around = { ok: true; value: { before: string; after: string; value: number; pid: number } };
    const first = (await around("square", home, 2)) as Around;
    assert.ok(first.ok, JSON.stringify(first));
    const servingFirst = (await probe.tokenAround("square", home, 2)) as Around;
    assert.ok(servingFirst.ok, JSON.stringify(servingFirst));
    const leaked = first.value.after;
    assert.equal(servingFirst.value.after, leaked, "one token per workspace and worker");
    assert.equal((await tp.api("DELETE", `/tokens/${(await tp.platform.ctx.store.verifyToken(leaked))!.id}`)).status, 200);

    // The same warm process: its nested call is refused once, then made with the token the worker got it.
    const second = (await around("square", home, 3)) as Around;
    assert.ok(second.ok, JSON.stringify(second));
    assert.equal(second.value.pid, first.value.pid, "the job call must reuse the warm process that held the revoked token");
    assert.deepEqual([second.value.before, second.value.value], [leaked, 9]);
    const fresh = second.value.after;
    assert.notEqual(fresh, leaked);
    const info = await tp.platform.ctx.store.verifyToken(fresh);
    assert.deepEqual({ scope: info?.scope, workspaceId: info?.workspaceId }, { scope: "workspace", workspaceId: homeId });
    assert.match(info?.name ?? "", /^runtime:wrk_/);

    const servingSecond = (await probe.tokenAround("square", home, 4)) as Around;
    assert.ok(servingSecond.ok, JSON.stringify(servingSecond));
    assert.equal(servingSecond.value.pid, servingFirst.value.pid, "the serving keeps its process (and its state)");
    assert.deepEqual([servingSecond.value.before, servingSecond.value.after, servingSecond.value.value], [leaked, fresh, 16]);
    // The leaked one stays dead.
    assert.equal(await tp.platform.ctx.store.verifyToken(leaked), null);
  });
});
