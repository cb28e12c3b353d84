// End to end: servings on a real platform (port 0, fresh data dir). The seed flow with
// examples/bar, typed proxies, streaming with cancellation, errors, redeploys and traces.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fromServing, getTracer } from "../../../src/index.ts";
import { NotFoundError, RemoteError } from "../../../src/remote/remote-error.ts";
import { eventually, importProject, KIT_FILES, raw, REPO, startTestPlatform, wsName, type TestPlatform } from "./_helpers.ts";

describe("servings e2e", () => {
  let tp: TestPlatform;
  let barMod: any;
  let kitMod: any;
  let ws: string;
  let kit: any;

  before(async () => {
    tp = await startTestPlatform();
    barMod = (await importProject(join(REPO, "examples/bar"))).mod;
    kitMod = (await importProject(KIT_FILES)).mod;
    ws = wsName("kit");
    kit = await kitMod.Kit.deploy(ws, { init: [5] });
  });
  after(async () => {
    await tp?.close();
  });

  it("a serving's output is readable through the API (GET …/servings/<name>/logs)", async () => {
    assert.equal(await kit.shout("hello-logs"), "hello-logs");
    const logs = await eventually(async () => {
      const r = await tp.api("GET", `/workspaces/${ws}/servings/Kit/logs`);
      assert.equal(r.status, 200);
      return (r.json.logs as string[]).some((l) => l.includes("shout: hello-logs")) ? r.json.logs : undefined;
    });
    assert.ok(logs.length > 0);
    const missing = await tp.api("GET", `/workspaces/${ws}/servings/NoSuch/logs`);
    assert.equal(missing.status, 404);
  });

  it("seed flow: bar.inc(); await barRemote.inc(); bar.x === await barRemote.x", async () => {
    const Bar = barMod.Bar;
    const bar = new Bar();
    const barRemote = await Bar.deploy(wsName("seed"));
    assert.match(barRemote.$url, /\/s\/t-seed-[\w-]+\/Bar\/$/);
    assert.match(barRemote.$token, /^nbx_/);
    bar.inc();
    await barRemote.inc();
    assert.equal(bar.x, await barRemote.x);
    assert.equal(await barRemote.x, 2);
    assert.equal(await barRemote.getvalue(), 2);
    await barRemote.$set("x", 41);
    await barRemote.inc();
    assert.equal(await barRemote.x, 42);
  });

  it("init args, remoteInit before traffic, accessors, generators collected, who_are_you", async () => {
    assert.equal(await kit.ready, true, "remoteInit ran before the first call");
    assert.equal(await kit.label, "kit");
    const x = await kit.x;
    assert.equal(await kit.double, x * 2);
    assert.deepEqual(await kit.count(3), [0, 1, 2]);
    assert.deepEqual(await kit.letters(), ["a", "b"]);
    const who = await kit.$whoAreYou();
    assert.equal(who.name, "Kit");
    assert.equal(who.kind, "class");
    assert.match(who.version, /^ver_/);
    assert.deepEqual(who.methods.add, { params: [{ name: "a", optional: false, rest: false }, { name: "b", optional: true, rest: false }], minArgs: 1, maxArgs: 2, kind: "method" });
    assert.equal(who.methods.count.kind, "asyncGenerator");
    assert.equal(who.methods.slowInc.kind, "async");
    for (const hidden of ["_private", "constructor", "remoteInit", "deploy"]) assert.ok(!Object.hasOwn(who.methods, hidden), hidden);
    for (const f of ["x", "label", "cancelled", "double"]) assert.ok(who.fields.includes(f), f);
    assert.ok(!who.fields.includes("_secret"));
    const doc = await raw(kit.$url, kit.$token, "GET", "openapi.json");
    assert.equal(doc.status, 200);
    assert.ok(doc.json.paths["/call/add"] && doc.json.paths["/stream/count"] && doc.json.paths["/attr/x"]);
    const health = await raw(kit.$url, kit.$token, "GET", "");
    assert.equal(health.status, 200);
    assert.equal(health.json.ok, true);
  });

  it("fromServing(url, token): typed proxy; unknown methods rejected client-side, unknown fields by the serving", async () => {
    interface Kit {
      x: number;
      _secret: string;
      add(a: number, b?: number): number;
      count(n: number): AsyncGenerator<number>;
    }
    const k = await fromServing<Kit>(kit.$url, kit.$token);
    const before: number = await k.x;
    const sum: number = await k.add(2, 3);
    assert.equal(sum, before + 5);
    const items: number[] = await k.count(2);
    assert.deepEqual(items, [0, 1]);
    // @ts-expect-error private names are not part of the remote type
    void k._secret;
    assert.equal(await k.x, before + 5);
    await assert.rejects((k as any).nope(), (e: any) => e.code === "NOT_FOUND" && /Known methods/.test(e.message) && e instanceof NotFoundError && e.name === "NotFoundError");
    await assert.rejects(Promise.resolve((k as any).nofield), (e: any) => e.code === "NOT_FOUND");
    // Without the trailing slash too.
    const k2 = await fromServing<Kit>(kit.$url.replace(/\/$/, ""), kit.$token);
    assert.equal(await k2.x, before + 5);
  });

  it("fromServing with a wrong URL or token fails clearly", async () => {
    await assert.rejects(fromServing(`${tp.url}/s/${ws}/NoSuchServing/`, kit.$token), (e: any) => e.code === "NOT_FOUND" && /fromServing/.test(e.message));
    await assert.rejects(fromServing(kit.$url, "nbx_wrong"), (e: any) => e.code === "UNAUTHORIZED");
    await assert.rejects(fromServing("http://127.0.0.1:1/s/x/y/", kit.$token), (e: any) => e.code === "UNAVAILABLE");
  });

  it("user errors come back as RemoteError with the original name, message and stack; the serving keeps serving", async () => {
    await assert.rejects(kit.fail("disk full"), (e: any) => {
      assert.ok(e instanceof RemoteError);
      assert.equal(e.remoteName, "Boom");
      assert.match(e.message, /Boom: disk full/);
      assert.match(e.remoteStack ?? "", /at Kit\.fail/);
      return true;
    });
    const r = await raw(kit.$url, kit.$token, "POST", "call/fail", { args: ["x"] });
    assert.equal(r.status, 500);
    assert.deepEqual([r.json.ok, r.json.error.name, r.json.error.message], [false, "Boom", "x"]);
    assert.equal(typeof (await kit.inc()), "number");
  });

  it("streaming: for await consumes lazily; an early break cancels the server generator", async () => {
    const items: number[] = [];
    for await (const i of kit.count(4)) items.push(i);
    assert.deepEqual(items, [0, 1, 2, 3]);
    const cancelledBefore = await kit.cancelled;
    const seen: number[] = [];
    for await (const i of kit.forever()) {
      seen.push(i);
      if (i >= 3) break;
    }
    assert.deepEqual(seen, [0, 1, 2, 3]);
    await eventually(async () => (await kit.cancelled) === cancelledBefore + 1, 10_000, "generator return()");
    const produced = await kit.produced;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await kit.produced, produced, "the generator stopped producing");
    // NDJSON on the wire.
    const r = await raw(kit.$url, kit.$token, "POST", "stream/letters", { args: [] });
    assert.equal(r.status, 200);
    assert.deepEqual(r.text.trim().split("\n").map((l) => JSON.parse(l)), [{ ok: true, value: "a" }, { ok: true, value: "b" }, { ok: true, done: true }]);
    const notGen = await raw(kit.$url, kit.$token, "POST", "stream/inc", {});
    assert.equal(notGen.status, 400);
  });

  it("the caller's traceparent parents the serving's spans (stored with servingId)", async () => {
    const tracer = getTracer();
    let caller: { traceId: string; spanId: string } | undefined;
    await tracer.withSpan("caller", async (span) => {
      caller = { traceId: span.traceId, spanId: span.spanId };
      await kit.inc();
    });
    const dep = (await tp.api("GET", `/workspaces/${ws}/deployments/Kit`)).json.deployment;
    const span = await eventually(async () => {
      const spans = await tp.platform.ctx.store.getSpans({ traceId: caller!.traceId });
      return spans.find((s) => s.name === "inc");
    }, 10_000, "the serving's inc span");
    assert.equal(span.parentSpanId, caller!.spanId);
    assert.equal(span.servingId, dep.id);
    assert.equal(span.status, "ok");
  });

  it("redeploy: same version keeps the process, a new version replaces it", async () => {
    const w = wsName("redeploy");
    const a = await kitMod.Kit.deploy(w, { init: [1] });
    const pid = await a.pid();
    await a.inc();
    const again = await kitMod.Kit.deploy(w, { init: [1] });
    assert.equal(await again.pid(), pid);
    assert.equal(await again.x, 2, "state kept: same process");
    const v2 = await kitMod.Kit.deploy(w, { init: [100] });
    assert.notEqual(await v2.pid(), pid);
    assert.equal(await v2.x, 100);
    assert.equal(await a.x, 100, "the old token still works and reaches the new process");
  });

  it("a redeploy of the running version whose ready note was lost (shown starting) hears ready again from the worker, keeping the process", async () => {
    const w = wsName("lost-note");
    const a = await kitMod.Kit.deploy(w, { init: [1] });
    const pid = await a.pid();
    const store = tp.platform.ctx.store;
    const row = (await store.listServings()).find((s) => s.urlPath?.includes(`/s/${w}/`));
    assert.ok(row, "the serving's row");
    // As if the worker's ready note went down with a control plane that was restarted.
    await store.upsertServingStatus({ deploymentId: row.deploymentId, status: "starting" });
    const again = await kitMod.Kit.deploy(w, { init: [1] });
    assert.equal(await again.pid(), pid, "the same process");
    assert.equal((await store.getServing(row.deploymentId))?.status, "ready");
  });

  it("an Operator subclass is served at /forward", async () => {
    const d = new kitMod.Doubler(3);
    const remote = await d.deploy(wsName("op"), { type: "serving" });
    assert.equal(await remote.forward(5), 15);
    const who = await remote.$whoAreYou();
    assert.equal(who.kind, "operator");
    assert.equal(who.forward.maxArgs, 1);
  });

  it("a serving whose start error holds a NUL is reported crashed with it replaced; the worker's reports go on", async () => {
    const ws = wsName("nul");
    await assert.rejects(kitMod.NulStart.deploy(ws), (e: any) => {
      assert.match(e.message, /failed to start: TypeError: bad.byte/);
      return true;
    });
    const { servings } = await tp.client.call("GET /servings", { query: { workspace: ws } });
    const serving = servings.find((s) => s.name === "NulStart")!;
    assert.notEqual(serving.status, "ready", "crashed (or starting again after its backoff)");
    assert.match(serving.lastError ?? "", /bad\uFFFDbyte/);
    // The same worker's later reports are applied: another serving starts.
    const kit = await kitMod.Kit.deploy(wsName("after-nul"), { init: ["after"] });
    assert.equal(await kit.ready, true);
  });

  it("a serving that fails to start rejects deploy() with the error and the log tail", async () => {
    await assert.rejects(kitMod.BadStart.deploy(wsName("bad")), (e: any) => {
      assert.match(e.message, /no database configured/);
      assert.match(e.message, /about to fail in the constructor/);
      return true;
    });
  });
});
