// End to end: what a serving refuses (404/400/401/403/413), how it fails (500, 504, crash) and
// that it keeps serving afterwards; call ordering under 1,000 concurrent calls; opt-in concurrency.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fromServing, WorkerCrashError } from "../../../src/index.ts";
import { toWire } from "../../../src/codec/index.ts";

const TAGGED = "application/vnd.nbox+json";
import { eventually, importProject, KIT_FILES, raw, REPO, startTestPlatform, wsName, type TestPlatform } from "./_helpers.ts";

const MAX_BODY = 64 * 1024;

describe("servings e2e: security and failure cases", () => {
  let tp: TestPlatform;
  let kitMod: any;
  let barMod: any;
  let ws: string;
  let kit: any;

  before(async () => {
    tp = await startTestPlatform({ maxBodyBytes: MAX_BODY });
    kitMod = (await importProject(KIT_FILES)).mod;
    barMod = (await importProject(join(REPO, "examples/bar"))).mod;
    ws = wsName("sec");
    kit = await kitMod.Kit.deploy(ws, { resource: { timeoutMs: 1000 } });
  });
  after(async () => {
    await tp?.close();
  });

  it("private, framework and Object plumbing names are never reachable (404)", async () => {
    const calls = ["_private", "%23hash", "$set", "constructor", "__proto__", "prototype", "toString", "hasOwnProperty", "valueOf", "__defineGetter__", "deploy", "map", "remoteInit", "then", "forward", "nope"];
    for (const name of calls) {
      const r = await raw(kit.$url, kit.$token, "POST", `call/${name}`, { args: [] });
      assert.equal(r.status, 404, `call/${name} → ${r.status} ${r.text}`);
      assert.equal(r.json.ok, false);
    }
    for (const name of ["_secret", "constructor", "__proto__", "inc", "nope"]) {
      const get = await raw(kit.$url, kit.$token, "GET", `attr/${name}`);
      assert.equal(get.status, 404, `GET attr/${name}`);
      const put = await raw(kit.$url, kit.$token, "PUT", `attr/${name}`, { value: toWire(1) });
      assert.equal(put.status, 404, `PUT attr/${name}`);
    }
    assert.equal((await raw(kit.$url, kit.$token, "GET", "attr/double")).json.value, 2 * (await kit.x));
    assert.equal((await raw(kit.$url, kit.$token, "PUT", "attr/double", { value: toWire(1) })).status, 404, "getter without setter");
    assert.equal((await raw(kit.$url, kit.$token, "POST", "forward", { args: [] })).status, 404, "Kit has no forward");
    assert.equal((await raw(kit.$url, kit.$token, "GET", "no/such/route")).status, 404);
    assert.equal((await raw(kit.$url, kit.$token, "POST", "stream/_private", {})).status, 404);
    // The private field is untouched and unread.
    assert.equal((await raw(kit.$url, kit.$token, "GET", "who_are_you")).json.value.fields.includes("_secret"), false);
  });

  it("wrong arity and undecodable arguments are 400", async () => {
    const cases: [string, unknown][] = [
      ["call/inc", { args: toWire([1]) }],
      ["call/add", { args: toWire([1, 2, 3]) }],
      ["call/echo", { args: { $nbx: "no-such-tag" } }],
      ["call/echo", { args: 5 }],
      ["call/echo", "{not json"],
      ["call/echo", "[1, 2]"],
    ];
    // Each case both as plain JSON and as the SDK's tagged encoding.
    for (const headers of [{}, { "content-type": TAGGED }] as Record<string, string>[]) {
      for (const [path, body] of cases) {
        const r = await raw(kit.$url, kit.$token, "POST", path, body, headers);
        assert.equal(r.status, 400, `${path} ${JSON.stringify(body)} → ${r.status} ${r.text}`);
        assert.equal(r.json.ok, false);
        assert.equal(r.json.error.code, r.json.error.message.startsWith("malformed JSON") || r.json.error.message.startsWith("the body must") ? "BAD_REQUEST" : "BAD_ARGS");
      }
      const put = await raw(kit.$url, kit.$token, "PUT", "attr/x", { value: { $nbx: "bogus" } }, headers);
      assert.equal(put.status, 400);
    }
    // Fewer arguments than parameters is fine when the rest have defaults, as in JavaScript.
    assert.equal((await raw(kit.$url, kit.$token, "POST", "call/add", { args: toWire([0]) }, { "content-type": TAGGED })).status, 200);
    await assert.rejects(kit.inc(1, 2), (e: any) => e.code === "BAD_ARGS" && /^inc\(\) takes 0 arguments, got 2$/.test(e.message));
  });

  it("tokens: missing/wrong → 401, another serving's or workspace's token → 403; admin, own workspace and own serving tokens pass", async () => {
    assert.equal((await raw(kit.$url, undefined, "GET", "who_are_you")).status, 401);
    assert.equal((await raw(kit.$url, "nbx_not-a-real-token", "GET", "who_are_you")).status, 401);
    assert.equal((await raw(kit.$url, "garbage", "GET", "who_are_you")).status, 401);
    const other = await barMod.Bar.deploy(wsName("other"));
    assert.equal((await raw(kit.$url, other.$token, "POST", "call/inc", {})).status, 403, "another serving's token");
    assert.equal((await raw(other.$url, kit.$token, "GET", "attr/x")).status, 403);
    const sameWsOther = await barMod.Bar.deploy(ws);
    assert.equal((await raw(kit.$url, sameWsOther.$token, "GET", "attr/x")).status, 403, "a serving token of the same workspace");
    const mine = (await tp.api("POST", "/tokens", { workspace: ws, name: "ws token" })).json.secret;
    const foreign = (await tp.api("POST", "/tokens", { workspace: wsName("foreign"), name: "foreign" })).json.secret;
    assert.equal((await raw(kit.$url, mine, "GET", "attr/x")).status, 200, "the owning workspace's token");
    assert.equal((await raw(kit.$url, foreign, "GET", "attr/x")).status, 403, "another workspace's token");
    assert.equal((await raw(kit.$url, tp.token, "GET", "attr/x")).status, 200, "admin token");
    // A serving token cannot use the platform API.
    assert.equal((await tp.api("GET", "/servings", undefined, kit.$token)).status, 403);
    // Unknown serving → 404 for a valid token, 401 without one (no probing for names).
    assert.equal((await raw(`${tp.url}/s/${ws}/Nope/`, kit.$token, "GET", "who_are_you")).status, 404);
    assert.equal((await raw(`${tp.url}/s/${ws}/Nope/`, undefined, "GET", "who_are_you")).status, 401);
    // The child itself only answers the platform (secret header), not a caller who finds its port.
    const pid = await kit.pid();
    assert.ok(pid > 0);
  });

  it("a body above the platform limit is 413 (with and without Content-Length)", async () => {
    const big = JSON.stringify({ args: toWire(["x".repeat(MAX_BODY + 10)]) });
    const r = await raw(kit.$url, kit.$token, "POST", "call/echo", big);
    assert.equal(r.status, 413);
    assert.equal(r.json.ok, false);
    const chunked = await fetch(kit.$url + "call/echo", {
      method: "POST",
      headers: { authorization: `Bearer ${kit.$token}`, "content-type": "application/json" },
      body: new ReadableStream({
        start(ctrl) {
          const enc = new TextEncoder();
          ctrl.enqueue(enc.encode(big.slice(0, 1000)));
          ctrl.enqueue(enc.encode(big.slice(1000)));
          ctrl.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    assert.equal(chunked.status, 413);
    await chunked.text();
    const small = await raw(kit.$url, kit.$token, "POST", "call/echo", { args: toWire(["y".repeat(1000)]) });
    assert.equal(small.status, 200);
    assert.equal(small.json.value, "y".repeat(1000));
  });

  it("a throwing method is 500 and the serving keeps serving", async () => {
    const before = await kit.x;
    const r = await raw(kit.$url, kit.$token, "POST", "call/fail", { args: toWire(["boom"]) });
    assert.equal(r.status, 500);
    assert.equal(r.json.error.name, "Boom");
    assert.match(r.json.error.stack, /fail/);
    assert.equal(await kit.inc(), before + 1);
  });

  it("a method hanging past its timeout is 504 and the serving stays usable", async () => {
    const t0 = Date.now();
    const r = await raw(kit.$url, kit.$token, "POST", "call/hang", {});
    assert.equal(r.status, 504);
    assert.equal(r.json.error.name, "TimeoutError");
    assert.ok(Date.now() - t0 < 5000);
    await assert.rejects(kit.hang(), (e: any) => e.code === "TIMEOUT");
    const x = await kit.x;
    assert.equal(await kit.inc(), x + 1);
  });

  it("1,000 concurrent inc() from several clients leave x exactly 1,001", async () => {
    const bar = await barMod.Bar.deploy(wsName("race"));
    const clients = [bar, ...(await Promise.all([1, 2, 3].map(() => fromServing<any>(bar.$url, bar.$token))))];
    await Promise.all(Array.from({ length: 1000 }, (_, i) => clients[i % clients.length].inc()));
    assert.equal(await bar.x, 1001);
    // Async methods are serialised too: each slowInc reads x, sleeps, writes x + 1.
    const k = await kitMod.Kit.deploy(wsName("slow"));
    const start = await k.x;
    await Promise.all(Array.from({ length: 10 }, () => k.slowInc(5)));
    assert.equal(await k.x, start + 10);
  });

  it("@operator({ concurrency: n }) lets n calls run at once", async () => {
    const par = await kitMod.Par.deploy(wsName("par"));
    const peaks = await Promise.all(Array.from({ length: 8 }, () => par.work(150)));
    const peak = Math.max(...peaks);
    assert.ok(peak > 1 && peak <= 4, `peak ${peak}`);
  });

  it("a crashed serving is restarted; the restart shows in GET /api/v1/servings and as an event", async () => {
    const w = wsName("crash");
    const k = await kitMod.Kit.deploy(w);
    await k.inc();
    const pid = await k.pid();
    // process.exit() in the middle of a call: the caller gets 503 (a WorkerCrashError), the platform restarts it.
    await assert.rejects(k.die(), (e: any) => e instanceof WorkerCrashError && e.code === "WORKER_CRASHED" && e.status === 503);
    const listed = await eventually(async () => {
      const { json } = await tp.api("GET", `/servings?workspace=${w}`);
      const s = json.servings.find((x: any) => x.name === "Kit");
      return s?.restarts >= 1 && s.status === "ready" ? s : undefined;
    }, 20_000, "the restart");
    assert.equal(listed.url, k.$url);
    assert.ok(listed.requests >= 3, `requests ${listed.requests}`);
    assert.notEqual(await k.pid(), pid);
    assert.equal(await k.x, 1, "a restarted serving starts from its init args");
    const events = (await tp.api("GET", `/events?workspace=${w}`)).json.events ?? [];
    assert.ok(events.some((e: any) => e.kind === "serving.restarted"), JSON.stringify(events.map((e: any) => e.kind)));
    // A crash between calls (exit from a timer) is restarted too.
    assert.equal(await k.crash(), "bye");
    await eventually(async () => {
      const { json } = await tp.api("GET", `/servings?workspace=${w}`);
      return json.servings.find((x: any) => x.name === "Kit")?.restarts >= 2;
    }, 20_000, "the second restart");
    assert.equal(await k.inc(), 2);
  });

  it("GET /api/v1/servings lists url, status, restarts and requests; workspace tokens see only theirs", async () => {
    const all = (await tp.api("GET", "/servings")).json.servings;
    const mine = all.find((s: any) => s.workspace === ws && s.name === "Kit");
    assert.ok(mine);
    assert.equal(mine.url, kit.$url);
    assert.equal(mine.status, "ready");
    assert.equal(mine.restarts, 0);
    assert.ok(mine.requests > 10);
    const token = (await tp.api("POST", "/tokens", { workspace: ws, name: "list" })).json.secret;
    const scoped = (await tp.api("GET", "/servings", undefined, token)).json.servings;
    assert.ok(scoped.length >= 1 && scoped.every((s: any) => s.workspace === ws));
  });
});
