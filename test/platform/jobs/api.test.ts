// End to end against the raw HTTP API: bad input gets the right status and a message that says
// what is wrong; redeploys are content-addressed; the OpenAPI document covers every route.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { apiContract } from "../../../src/contract/index.ts";
import { PlatformClient, type SendInit } from "../../../src/remote/client.ts";
import { importProject, startTestPlatform, wsName, type TestPlatform } from "./_helpers.ts";

/** POST with a Content-Length header but (almost) no body: the answer must not wait for the body. */
function postDeclaringLength(url: string, token: string, length: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": String(length) } }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => {
        req.destroy();
        resolve({ status: res.statusCode!, body });
      });
    });
    req.on("error", (e) => ((e as NodeJS.ErrnoException).code === "ECONNRESET" ? undefined : reject(e)));
    req.write("{"); // one byte of the announced body, never the rest
  });
}

/** Records every API call the SDK makes. */
class SpyClient extends PlatformClient {
  calls: { method: string; path: string; body: any; res: any }[] = [];
  protected override async send(method: string, path: string, body?: unknown, init?: SendInit): Promise<unknown> {
    const res = await super.send(method, path, body, init);
    this.calls.push({ method, path, body, res });
    return res;
  }
}

describe("jobs e2e: API input checks", () => {
  let tp: TestPlatform;
  let mod: any;
  let ws: string;
  let runsPath: string;
  let sleeperPath: string;
  before(async () => {
    tp = await startTestPlatform();
    ({ mod } = await importProject("basic"));
    ws = wsName("api");
    const remote = await mod.square.deploy(ws, { client: tp.client });
    runsPath = `/workspaces/${ws}/deployments/${remote.deployment.name}/runs`;
    sleeperPath = `/workspaces/${ws}/deployments/${(await mod.sleeper.deploy(ws, { client: tp.client })).deployment.name}/runs`;
  });
  after(async () => {
    await tp?.close();
  });

  it("a good raw call works (the baseline for the failures below)", async () => {
    const r = await tp.api("POST", runsPath, { args: [7], wait: true });
    assert.equal(r.status, 201);
    assert.equal(r.json.run.status, "succeeded");
    assert.equal(r.json.run.result, 49);
  });

  it("answers carry the runs' arguments unless the caller says it has them (withArgs: false, as the SDK does)", async () => {
    const r = await tp.api("POST", runsPath, { args: [7], wait: true });
    assert.deepEqual(r.json.run.args, [7], "by default a run shows its arguments");
    const lean = await tp.api("POST", runsPath, { args: [8], wait: true, withArgs: false });
    assert.equal(lean.json.run.result, 64);
    assert.ok(!("args" in lean.json.run), "left out");
    const batch = await tp.api("POST", runsPath, { batch: [[2], [3]], withArgs: false });
    assert.equal(batch.status, 201);
    assert.ok(batch.json.runs.every((run: object) => !("args" in run)));
    const ids = batch.json.runs.map((run: { id: string }) => run.id);
    const waited = await tp.api("POST", "/runs/wait", { ids, timeoutMs: 10_000, withArgs: false });
    assert.ok(waited.json.runs.length > 0 && waited.json.runs.every((run: object) => !("args" in run)));
    const full = await tp.api("POST", "/runs/wait", { ids, timeoutMs: 10_000 });
    assert.ok(full.json.runs.length > 0 && full.json.runs.every((run: { args: unknown }) => Array.isArray(run.args)));
    // The SDK's answers leave them out: a fan-out does not get every input back.
    const spy = new SpyClient({ url: tp.url, token: tp.client.token });
    const remote = await mod.square.deploy(ws, { client: spy });
    spy.calls.length = 0;
    assert.deepEqual(await remote.map([1, 2, 3]), [1, 4, 9]);
    assert.equal(await remote(5), 25);
    const handle = await remote.trigger(6);
    assert.equal(await handle.result(), 36);
    const answers = spy.calls.filter((c) => /\/runs(\/wait)?(\?|$)/.test(c.path)).map((c) => c.res);
    assert.ok(spy.calls.some((c) => c.path.startsWith(`/runs/${handle.id}/wait?`)), "the handle waited on its run");
    const runsSeen = answers.flatMap((a: any) => (a.runs ?? (a.run ? [a.run] : [])) as object[]);
    assert.ok(runsSeen.length >= 6, `saw ${runsSeen.length} runs in answers`);
    assert.ok(runsSeen.every((run) => !("args" in run)), JSON.stringify(answers));
  });

  it("runs that finish while a wait is open answer with their arguments (the finish does not carry them), unless left out", async () => {
    const finishedAfter = (run: { finishedAt: string }, t: number) => assert.ok(Date.parse(run.finishedAt) >= t, `finished at ${run.finishedAt}, the wait opened at ${new Date(t).toISOString()}`);
    let opened = Date.now();
    const waited = await tp.api("POST", sleeperPath, { args: [300], wait: true });
    assert.deepEqual([waited.json.run.status, waited.json.run.args], ["succeeded", [300]]);
    finishedAfter(waited.json.run, opened);
    const lean = await tp.api("POST", sleeperPath, { args: [301], wait: true, withArgs: false });
    assert.equal(lean.json.run.result, 301);
    assert.ok(!("args" in lean.json.run));

    const [one] = (await tp.api("POST", sleeperPath, { batch: [[302]] })).json.runs;
    opened = Date.now();
    const single = await tp.api("GET", `/runs/${one.id}/wait?timeoutMs=10000`);
    assert.deepEqual([single.json.run.status, single.json.run.args], ["succeeded", [302]]);
    finishedAfter(single.json.run, opened);
    // The single-run wait and cancel take the same choice, as a query flag.
    const [two, three] = (await tp.api("POST", sleeperPath, { batch: [[303], [304]] })).json.runs;
    const leanOne = await tp.api("GET", `/runs/${two.id}/wait?timeoutMs=10000&withArgs=false`);
    assert.deepEqual([leanOne.json.run.result, "args" in leanOne.json.run], [303, false]);
    assert.deepEqual((await tp.api("GET", `/runs/${two.id}/wait?withArgs=true`)).json.run.args, [303]);
    const cancelled = await tp.api("POST", `/runs/${three.id}/cancel?timeoutMs=10000&withArgs=false`);
    assert.equal(cancelled.status, 200);
    assert.ok(!("args" in cancelled.json.run));
    const bad = await tp.api("GET", `/runs/${two.id}/wait?withArgs=no`);
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /withArgs/);
    assert.match(bad.json.error.message, /true or false/);

    // Every run of a batch, through /runs/wait polls resumed by cursor (as remote map does).
    const waitAll = async (batch: number[][], withArgs?: boolean) => {
      const ids: string[] = (await tp.api("POST", sleeperPath, { batch, withArgs: false })).json.runs.map((run: { id: string }) => run.id);
      const t = Date.now();
      const got = new Map<string, any>();
      let cursor: string | undefined;
      while (got.size < ids.length) {
        const rest = ids.filter((id) => !got.has(id));
        const r = await tp.api("POST", "/runs/wait", { ids: rest, timeoutMs: 10_000, cursor, added: cursor ? [] : undefined, ...(withArgs === undefined ? {} : { withArgs }) });
        assert.equal(r.status, 200);
        for (const run of r.json.runs) got.set(run.id, run);
        cursor = r.json.cursor;
      }
      for (const run of got.values()) finishedAfter(run, t);
      return ids.map((id) => got.get(id));
    };
    const full = await waitAll([[310], [320], [330]]);
    assert.deepEqual(full.map((run) => [run.status, run.args]), [["succeeded", [310]], ["succeeded", [320]], ["succeeded", [330]]]);
    const left = await waitAll([[311], [321]], false);
    assert.ok(left.every((run) => run.status === "succeeded" && !("args" in run)));
  });

  it("unknown deployment → 404 naming it", async () => {
    const r = await tp.api("POST", `/workspaces/${ws}/deployments/no-such-job/runs`, { args: [] });
    assert.equal(r.status, 404);
    assert.equal(r.json.error.code, "NOT_FOUND");
    assert.match(r.json.error.message, /no-such-job/);
    const g = await tp.api("GET", `/workspaces/${ws}/deployments/no-such-job`);
    assert.equal(g.status, 404);
    assert.match(g.json.error.message, /no-such-job/);
    const run = await tp.api("GET", `/runs/run_nope`);
    assert.equal(run.status, 404);
    assert.match(run.json.error.message, /run_nope/);
  });

  it("no token / wrong token → 401", async () => {
    const none = await fetch(`${tp.url}/api/v1${runsPath}`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as any).error.code, "UNAUTHORIZED");
    const wrong = await tp.api("POST", runsPath, { args: [1] }, { authorization: "Bearer not-a-real-token" });
    assert.equal(wrong.status, 401);
    const malformed = await tp.api("GET", "/runs", undefined, { authorization: "Basic abc" });
    assert.equal(malformed.status, 401);
  });

  it("a workspace token works in its workspace and gets 403 in another", async () => {
    const other = wsName("api-other");
    await mod.square.deploy(other, { client: tp.client });
    const t = await tp.api("POST", "/tokens", { workspace: ws, name: "scoped" });
    assert.equal(t.status, 201);
    const auth = { authorization: `Bearer ${t.json.secret}` };
    const mine = await tp.api("POST", runsPath, { args: [3], wait: true }, auth);
    assert.equal(mine.status, 201);
    assert.equal(mine.json.run.result, 9);
    const theirs = await tp.api("POST", `/workspaces/${other}/deployments/square/runs`, { args: [3] }, auth);
    assert.equal(theirs.status, 403);
    assert.equal(theirs.json.error.code, "FORBIDDEN");
    const read = await tp.api("GET", `/workspaces/${other}/deployments/square`, undefined, auth);
    assert.equal(read.status, 403);
    // A run of the other workspace cannot be read by id either: it answers like a missing run, so
    // the token learns nothing (not even that it exists); waiting on it waits on nothing.
    const otherRun = await tp.api("POST", `/workspaces/${other}/deployments/square/runs`, { args: [2], wait: true });
    assert.equal(otherRun.json.run.status, "succeeded");
    const peek = await tp.api("GET", `/runs/${otherRun.json.run.id}`, undefined, auth);
    const missing = await tp.api("GET", `/runs/run_does-not-exist`, undefined, auth);
    assert.equal(peek.status, 404);
    assert.equal(missing.status, 404);
    for (const path of ["wait", "logs", "spans"]) assert.equal((await tp.api("GET", `/runs/${otherRun.json.run.id}/${path}`, undefined, auth)).status, 404, path);
    const waited = await tp.api("POST", "/runs/wait", { ids: [otherRun.json.run.id, mine.json.run.id], timeoutMs: 200 }, auth);
    assert.equal(waited.status, 200);
    assert.deepEqual(waited.json.runs.map((r: { id: string }) => r.id), [mine.json.run.id]);
    const onlyTheirs = await tp.api("POST", "/runs/wait", { ids: [otherRun.json.run.id], timeoutMs: 200 }, auth);
    assert.deepEqual([onlyTheirs.status, onlyTheirs.json.runs], [200, []]);
    // Resuming from a cursor with their run named as added changes nothing.
    const resumed = await tp.api("POST", "/runs/wait", { ids: [otherRun.json.run.id], added: [otherRun.json.run.id], cursor: waited.json.cursor, timeoutMs: 200 }, auth);
    assert.deepEqual([resumed.status, resumed.json.runs], [200, []]);
    // Nor can it create tokens.
    const mint = await tp.api("POST", "/tokens", { workspace: ws }, auth);
    assert.equal(mint.status, 403);
  });

  it("malformed JSON → 400 saying so", async () => {
    const r = await tp.api("POST", runsPath, "{ not json", { "content-type": "application/json" });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /JSON/);
    const arr = await tp.api("POST", runsPath, "[1,2]");
    assert.equal(arr.status, 400);
  });

  it("args that do not decode → 400", async () => {
    const r = await tp.api("POST", runsPath, { args: { $nbx: "nope", v: 1 } });
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.equal(r.json.error.code, "BAD_ARGS");
    const notArray = await tp.api("POST", runsPath, { args: 5 });
    assert.equal(notArray.status, 400, JSON.stringify(notArray.json));
    assert.equal(notArray.json.error.code, "BAD_ARGS");
    // Nothing was queued by the rejected calls.
    const runs = await tp.api("GET", `/runs?workspace=${ws}&status=queued`);
    assert.equal(runs.json.runs.length, 0);
  });

  it("a NUL character (which the store cannot keep): in arguments → 400 saying so; in a result → the run fails saying so, and the worker goes on", async () => {
    const measure = await mod.measure.deploy(ws, { client: tp.client });
    const bad = await tp.api("POST", `/workspaces/${ws}/deployments/${measure.deployment.name}/runs`, { args: ["a\u0000b"] });
    assert.equal(bad.status, 400, JSON.stringify(bad.json));
    assert.match(bad.json.error.message, /NUL character/);
    const nul = await mod.nul.deploy(ws, { client: tp.client });
    await assert.rejects(nul(), (err: Error & { remoteName?: string }) => err.remoteName === "ResultNotStorableError" && /NUL character/.test(err.message));
    const after = await tp.api("POST", runsPath, { args: [8], wait: true });
    assert.equal(after.json.run.result, 64);
  });

  it("more args than forward declares → 400 naming the function", async () => {
    const r = await tp.api("POST", runsPath, { args: [1, 2, 3] });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, "BAD_ARGS");
    assert.match(r.json.error.message, /square/);
    assert.match(r.json.error.message, /1 argument/);
  });

  it("bad query parameters → 400", async () => {
    assert.equal((await tp.api("GET", "/runs?status=exploded")).status, 400);
    assert.equal((await tp.api("GET", "/runs?limit=abc")).status, 400);
  });

  it("OpenAPI lists every declared route, and every declared route is served", async () => {
    const res = await fetch(`${tp.url}/api/v1/openapi.json`);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as any;
    assert.equal(doc.openapi.startsWith("3."), true);
    for (const { method, path } of Object.values(apiContract)) {
      assert.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} in the document`);
      const concrete = path.replace(/\{(\w+)\}/g, (_m: string, p: string) => (p === "ws" ? ws : p === "hash" ? "0".repeat(64) : "x"));
      const r = await tp.api(method.toUpperCase(), concrete, method === "get" || method === "delete" ? undefined : {});
      assert.doesNotMatch(String(r.json?.error?.message ?? ""), /no API route/, `${method.toUpperCase()} ${path} is routed (got ${r.status})`);
    }
  });

  it("a path no route serves is a JSON 404 under /api/ (what the check above looks for), plain text elsewhere", async () => {
    const r = await tp.api("GET", "/no-such-route");
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { ok: false, error: { code: "NOT_FOUND", name: "NotFound", message: "no API route GET /api/v1/no-such-route" } });
    const page = await fetch(`${tp.url}/no-such-page`);
    assert.equal(page.status, 404);
    assert.equal(await page.text(), "404 Not Found");
  });

  it("redeploying an unchanged project creates no version and uploads nothing; a changed file makes a new version", async () => {
    const { dir, mod: changing } = await importProject("changing");
    const w = wsName("redeploy");
    const steps: string[] = [];
    const first = await changing.version.deploy(w, { client: tp.client });
    assert.equal(await first(), "v1");
    const again = await changing.version.deploy(w, { client: tp.client, onStep: (s: string, d?: string) => steps.push(`${s}:${d ?? ""}`) });
    assert.equal(again.deployment.versionId, first.deployment.versionId);
    assert.equal(again.deployment.contentHash, first.deployment.contentHash);
    assert.ok(steps.includes("upload:unchanged, 0 bytes"), steps.join(", "));
    const exists = await tp.api("GET", `/bundles/${first.deployment.contentHash}`);
    assert.equal(exists.json.exists, true);
    const dry = await changing.version.deploy(w, { dryRun: true });
    assert.ok(dry.files.some((f: { path: string }) => f.path === "data.txt"), JSON.stringify(dry.files));

    appendFileSync(join(dir, "data.txt"), "two\n");
    const changed = await changing.version.deploy(w, { client: tp.client });
    assert.notEqual(changed.deployment.versionId, first.deployment.versionId);
    assert.notEqual(changed.deployment.contentHash, first.deployment.contentHash);
    assert.equal(changed.deployment.id, first.deployment.id, "same deployment, new version");
    assert.equal(await changed(), "v1");
    // Going back to the old content reuses the old bundle (no upload).
    writeFileSync(join(dir, "data.txt"), "one\n");
    const steps2: string[] = [];
    const back = await changing.version.deploy(w, { client: tp.client, onStep: (s: string, d?: string) => steps2.push(`${s}:${d ?? ""}`) });
    assert.equal(back.deployment.contentHash, first.deployment.contentHash);
    assert.ok(steps2.includes("upload:unchanged, 0 bytes"), steps2.join(", "));
  });

  it("the register call answers created: false for a known version, and nothing is PUT", async () => {
    const { dir, mod: changing } = await importProject("changing");
    writeFileSync(join(dir, "data.txt"), `unique ${process.pid} ${Date.now()}\n`); // content no earlier test uploaded
    const w = wsName("created");
    const spy = new SpyClient({ url: tp.url, token: tp.token });
    await changing.version.deploy(w, { client: spy });
    const firstPost = spy.calls.find((c) => c.method === "POST" && c.path.endsWith("/deployments"))!;
    assert.equal(firstPost.res.created, true);
    assert.ok(spy.calls.some((c) => c.method === "PUT"), "first deploy uploads");
    spy.calls.length = 0;
    await changing.version.deploy(w, { client: spy });
    assert.deepEqual(spy.calls.map((c) => c.method), ["GET", "POST"], "second deploy: check + register, no PUT");
    assert.equal(spy.calls[0]!.res.exists, true);
    assert.equal(spy.calls[1]!.res.created, false);
    // Raw: the same manifest again → 200, created false, same version.
    const raw = await tp.api("POST", `/workspaces/${w}/deployments`, firstPost.body);
    assert.equal(raw.status, 200);
    assert.equal(raw.json.created, false);
    assert.equal(raw.json.deployment.versionId, firstPost.res.deployment.versionId);
  });
});

describe("jobs e2e: body size limit", () => {
  let tp: TestPlatform;
  before(async () => {
    tp = await startTestPlatform({ maxBodyBytes: 1024, executor: false });
  });
  after(async () => {
    await tp?.close();
  });

  it("a body above maxBodyBytes → 413", async () => {
    const big = JSON.stringify({ name: "x".repeat(4096) });
    const r = await tp.api("POST", "/workspaces", big);
    assert.equal(r.status, 413);
    assert.equal(r.json.error.code, "PAYLOAD_TOO_LARGE");
    assert.match(r.json.error.message, /1024/);
    const small = await tp.api("POST", "/workspaces", { name: wsName("small") });
    assert.equal(small.status, 201);
  });

  it("413 when Content-Length says so, before the body is read", async () => {
    const r = await postDeclaringLength(`${tp.url}/api/v1/workspaces`, tp.token, 50 * 1024 * 1024);
    assert.equal(r.status, 413);
    assert.match(r.body, /PAYLOAD_TOO_LARGE/);
  });

  it("413 for a chunked body (no Content-Length) once it passes the limit", async () => {
    const chunks = [new TextEncoder().encode(`{"name":"${"y".repeat(3000)}"}`)];
    const body = new ReadableStream({
      pull(c) {
        const next = chunks.shift();
        if (next) c.enqueue(next);
        else c.close();
      },
    });
    const res = await fetch(`${tp.url}/api/v1/workspaces`, {
      method: "POST",
      headers: { authorization: `Bearer ${tp.token}`, "content-type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit);
    assert.equal(res.status, 413);
  });
});
