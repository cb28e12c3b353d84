// Revocation takes effect at once, on the API and on serving URLs; a serving keeps one token across
// redeploys until it is rotated, and rotation revokes the old one; workspace tokens manage only
// their own workspace's tokens. Also across two platform nodes sharing one Postgres.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { nbx } from "../cli/_harness.ts";
import { freshPostgresSchema } from "../platform/jobs/_helpers.ts";
import { postgresUnavailable } from "../platform/store/pg-harness.ts";
import { eventually, importProject, KIT_FILES, raw, startTestPlatform, wsName, type TestPlatform } from "../platform/serving/_helpers.ts";

interface Tok {
  id: string;
  scope: string;
  servingId: string | null;
  workspaceId: string | null;
  revokedAt: number | null;
}

describe("security: revocation and serving tokens", () => {
  let tp: TestPlatform;
  let Kit: any;

  before(async () => {
    tp = await startTestPlatform();
    Kit = (await importProject(KIT_FILES)).mod.Kit;
  });
  after(async () => {
    await tp?.close();
  });

  const wsToken = async (ws: string) => (await tp.api("POST", "/tokens", { workspace: ws, name: `t ${ws}` })).json as { token: Tok; secret: string };
  const liveServingTokens = async (ws: string, name: string): Promise<Tok[]> => {
    const dep = (await tp.api("GET", `/workspaces/${ws}/deployments/${name}`)).json.deployment;
    const all = (await tp.api("GET", "/tokens")).json.tokens as Tok[];
    return all.filter((t) => t.scope === "serving" && t.servingId === dep.id && t.revokedAt === null);
  };
  /** Several calls first, so every cache on the way has the token. */
  const warm = async (check: () => Promise<number>, want: number) => {
    for (let i = 0; i < 3; i++) assert.equal(await check(), want);
  };

  it("revoking a workspace token and a serving token: the very next call gets 401 on the API and the serving URL", async () => {
    const ws = wsName("revoke");
    const kit = await Kit.deploy(ws);
    const w = await wsToken(ws);
    const apiWith = async (secret: string) => (await tp.api("GET", `/workspaces/${ws}/deployments`, undefined, secret)).status;
    const servingWith = async (secret: string) => (await raw(kit.$url, secret, "GET", "attr/x")).status;
    await warm(() => apiWith(w.secret), 200);
    await warm(() => servingWith(w.secret), 200);
    await warm(() => servingWith(kit.$token), 200);

    assert.equal((await tp.api("DELETE", `/tokens/${w.token.id}`)).status, 200);
    assert.equal(await servingWith(w.secret), 401, "revoked workspace token on the serving URL");
    assert.equal(await apiWith(w.secret), 401, "revoked workspace token on the API");

    const [st] = await liveServingTokens(ws, "Kit");
    assert.ok(st, "the serving has a live token");
    assert.equal((await tp.api("DELETE", `/tokens/${st.id}`)).status, 200);
    assert.equal(await servingWith(kit.$token), 401, "revoked serving token on the serving URL");
    assert.equal(await apiWith(kit.$token), 401, "revoked serving token on the API");
    // The serving itself is fine: the admin token still reaches it.
    assert.equal(await servingWith(tp.token), 200);
  });

  it("a redeploy keeps the serving's token; it keeps working on the new version", async () => {
    const ws = wsName("redeploy");
    const v1 = await Kit.deploy(ws, { init: [1] });
    await warm(async () => (await raw(v1.$url, v1.$token, "GET", "attr/x")).status, 200);
    const v2 = await Kit.deploy(ws, { init: [7] });
    assert.equal(v2.$token, v1.$token, "same token after a redeploy with a new version");
    const same = await Kit.deploy(ws, { init: [7] });
    assert.equal(same.$token, v1.$token, "same token after an unchanged redeploy");
    const r = await raw(v1.$url, v1.$token, "GET", "attr/x");
    assert.equal(r.status, 200);
    assert.equal(r.json.value, 7, "the first token reaches the new version");
    assert.equal((await liveServingTokens(ws, "Kit")).length, 1, "one live token per serving, not one per deploy");
  });

  it("rotate (API and `nbx token rotate`): the old token gets 401 at once, the new one works and survives redeploys", async () => {
    const ws = wsName("rotate");
    const kit = await Kit.deploy(ws);
    const old = kit.$token as string;
    await warm(async () => (await raw(kit.$url, old, "GET", "attr/x")).status, 200);

    const rot = await tp.api("POST", `/workspaces/${ws}/servings/Kit/token`);
    assert.equal(rot.status, 201);
    const fresh = rot.json.secret as string;
    assert.match(fresh, /^nbx_/);
    assert.notEqual(fresh, old);
    assert.equal((await raw(kit.$url, old, "GET", "attr/x")).status, 401, "old token refused at once");
    assert.equal((await raw(kit.$url, fresh, "GET", "attr/x")).status, 200);
    assert.equal((await Kit.deploy(ws, { init: [3] })).$token, fresh, "a redeploy hands out the rotated token");

    // The CLI prints the new token on stdout.
    await warm(async () => (await raw(kit.$url, fresh, "GET", "attr/x")).status, 200);
    const cli = await nbx(["token", "rotate", "Kit", "--workspace", ws], { env: { NBOX_URL: tp.url, NBOX_TOKEN: tp.token } });
    assert.equal(cli.code, 0, cli.stderr);
    const printed = cli.stdout.trim();
    assert.match(printed, /^nbx_\S+$/);
    assert.equal((await raw(kit.$url, fresh, "GET", "attr/x")).status, 401, "the token the CLI rotated away is refused");
    assert.equal((await raw(kit.$url, printed, "GET", "attr/x")).status, 200, "the printed token works");
    assert.equal((await liveServingTokens(ws, "Kit")).length, 1);

    const missing = await nbx(["token", "rotate", "NoSuchServing", "--workspace", ws], { env: { NBOX_URL: tp.url, NBOX_TOKEN: tp.token } });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /serving "NoSuchServing" not found/);
  });

  it("a workspace token manages its own workspace's tokens only (403 for another workspace's and for admin tokens)", async () => {
    const alpha = wsName("alpha");
    const beta = wsName("beta");
    const kit = await Kit.deploy(alpha);
    const a = await wsToken(alpha);
    const b = await wsToken(beta);
    const [st] = await liveServingTokens(alpha, "Kit");
    const adminTok = ((await tp.api("GET", "/tokens")).json.tokens as Tok[]).find((t) => t.scope === "admin" && t.revokedAt === null)!;

    assert.equal((await tp.api("POST", `/workspaces/${alpha}/servings/Kit/token`, undefined, b.secret)).status, 403, "beta rotates alpha's serving");
    assert.equal((await tp.api("DELETE", `/tokens/${a.token.id}`, undefined, b.secret)).status, 403, "beta revokes alpha's workspace token");
    assert.equal((await tp.api("DELETE", `/tokens/${st!.id}`, undefined, b.secret)).status, 403, "beta revokes alpha's serving token");
    assert.equal((await tp.api("DELETE", `/tokens/${adminTok.id}`, undefined, b.secret)).status, 403, "a workspace token revokes an admin token");
    assert.equal((await raw(kit.$url, kit.$token, "GET", "attr/x")).status, 200, "alpha's serving token untouched");
    assert.equal((await raw(kit.$url, a.secret, "GET", "attr/x")).status, 200, "alpha's workspace token untouched");

    // Its own workspace: allowed.
    const rot = await tp.api("POST", `/workspaces/${alpha}/servings/Kit/token`, undefined, a.secret);
    assert.equal(rot.status, 201);
    assert.equal((await raw(kit.$url, kit.$token, "GET", "attr/x")).status, 401);
    const other = await wsToken(alpha);
    assert.equal((await tp.api("DELETE", `/tokens/${other.token.id}`, undefined, a.secret)).status, 200);
    assert.equal((await tp.api("GET", `/workspaces/${alpha}/deployments`, undefined, other.secret)).status, 401);
  });
});

describe("security: a revoke on one platform node reaches another (shared Postgres)", async () => {
  const skip = await postgresUnavailable();
  let pg: Awaited<ReturnType<typeof freshPostgresSchema>> | undefined;
  let a: TestPlatform | undefined;
  let b: TestPlatform | undefined;

  before(async () => {
    if (skip) return;
    pg = await freshPostgresSchema();
    a = await startTestPlatform({ databaseUrl: pg.databaseUrl });
    b = await startTestPlatform({ databaseUrl: pg.databaseUrl });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await pg?.drop();
  });

  it("node B stops accepting a token node A revoked", { skip: skip ?? false }, async () => {
    const ws = wsName("nodes");
    const t = (await a!.api("POST", "/tokens", { workspace: ws, name: "shared" })).json as { token: Tok; secret: string };
    const onB = async () => (await b!.api("GET", `/workspaces/${ws}/deployments`, undefined, t.secret)).status;
    for (let i = 0; i < 3; i++) assert.equal(await onB(), 200, "B has verified (and cached) the token");
    assert.equal((await a!.api("DELETE", `/tokens/${t.token.id}`)).status, 200);
    assert.equal((await a!.api("GET", `/workspaces/${ws}/deployments`, undefined, t.secret)).status, 401, "at once on A");
    await eventually(async () => (await onB()) === 401, 10_000, "B refusing the token A revoked");
  });
});
