// A serving call while its serving is being placed, moved or restarted: a 503 UNAVAILABLE (never
// delivered) is asked again as Retry-After says, within the call's budget; a 503 WORKER_CRASHED
// (the call may have run) is asked again only for a read. Against a scripted HTTP server.
import { after, before, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { toWire } from "../../src/codec/index.ts";
import { NboxError } from "../../src/errors.ts";
import { RemoteError, WorkerCrashError } from "../../src/index.ts";
import { fromServing, ServingClient } from "../../src/remote/serving-proxy.ts";
import { retryAfterMs } from "../../src/remote/unavailable-retry.ts";

type Answer = { status: number; body: unknown; retryAfter?: string; ndjson?: boolean };
let script: Answer[] = [];
const seen: Array<{ method: string; url: string; at: number }> = [];
let server: Server;
let url: string;

const unavailable = (retryAfter = "0"): Answer => ({ status: 503, retryAfter, body: { ok: false, error: { name: "NboxError", code: "UNAVAILABLE", message: "no live worker" } } });
const crashed: Answer = { status: 503, retryAfter: "0", body: { ok: false, error: { name: "ServingCrashed", code: "WORKER_CRASHED", message: "died during the call" } } };
const ok = (value: unknown): Answer => ({ status: 200, body: { ok: true, value: toWire(value) } });

before(async () => {
  server = createServer((req: IncomingMessage, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", at: performance.now() });
    req.resume();
    req.on("end", () => {
      const a = script.shift() ?? { status: 500, body: { ok: false, error: { code: "INTERNAL", message: "script ran out" } } };
      const headers: Record<string, string> = { "content-type": a.ndjson ? "application/x-ndjson" : "application/json" };
      if (a.retryAfter !== undefined) headers["retry-after"] = a.retryAfter;
      res.writeHead(a.status, headers);
      if (a.ndjson) res.end([...(a.body as unknown[]).map((v) => JSON.stringify({ ok: true, value: toWire(v) })), JSON.stringify({ ok: true, done: true })].join("\n") + "\n");
      else res.end(JSON.stringify(a.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/s/ws/Kit/`;
});
after(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  script = [];
  seen.length = 0;
});

describe("serving calls while the serving is unavailable", () => {
  it("a method call answered 503 UNAVAILABLE is sent again until it is answered", async () => {
    script = [unavailable(), unavailable(), ok(7)];
    const client = new ServingClient(url, "t");
    assert.equal(await client.call("inc", []), 7);
    assert.deepEqual(seen.map((s) => `${s.method} ${s.url}`), ["POST /s/ws/Kit/call/inc", "POST /s/ws/Kit/call/inc", "POST /s/ws/Kit/call/inc"]);
  });

  it("waits as Retry-After says between tries", async () => {
    script = [unavailable("1"), ok(1)];
    await new ServingClient(url, "t").call("inc", []);
    assert.ok(seen[1]!.at - seen[0]!.at >= 900, `asked again after ${Math.round(seen[1]!.at - seen[0]!.at)} ms, not the second Retry-After asked for`);
  });

  it("a method call answered 503 WORKER_CRASHED is not repeated (it may have run): WorkerCrashError at once", async () => {
    script = [crashed, ok(1)];
    await assert.rejects(new ServingClient(url, "t").call("inc", []), (e: unknown) => e instanceof WorkerCrashError && e.status === 503);
    assert.equal(seen.length, 1);
  });

  it("a field read answered 503 WORKER_CRASHED is read again (a read cannot count twice)", async () => {
    script = [crashed, ok(5)];
    assert.equal(await new ServingClient(url, "t").send("GET", "attr/x"), 5);
    assert.equal(seen.length, 2);
  });

  it("gives up after its budget with the last error, saying how long it kept asking", async () => {
    script = Array.from({ length: 50 }, () => unavailable("0"));
    const client = new ServingClient(url, "t", { retryUnavailableMs: 300 });
    await assert.rejects(client.call("inc", []), (e: unknown) => e instanceof RemoteError && e.code === "UNAVAILABLE" && /no live worker \(still so after \d+ tries over 0\.\d s\)/.test(e.message));
    assert.ok(seen.length >= 2 && seen.length < 50, `${seen.length} tries`);
  });

  it("retryUnavailableMs: 0 answers the first 503 with its error; a bad budget is refused clearly", async () => {
    script = [unavailable(), ok(1)];
    await assert.rejects(new ServingClient(url, "t", { retryUnavailableMs: 0 }).call("inc", []), (e: unknown) => e instanceof RemoteError && e.code === "UNAVAILABLE" && e.message === "no live worker");
    assert.equal(seen.length, 1);
    assert.throws(() => new ServingClient(url, "t", { retryUnavailableMs: -1 }), (e: unknown) => e instanceof NboxError && /retryUnavailableMs must be a non-negative number/.test(e.message));
  });

  it("other errors are never repeated (a 503 without the code, a 500, a 400)", async () => {
    for (const a of [{ status: 503, retryAfter: "0", body: { ok: false, error: { message: "proxy" } } }, { status: 500, body: { ok: false, error: { code: "USER_CODE", name: "Error", message: "boom" } } }, { status: 400, body: { ok: false, error: { code: "BAD_ARGS", message: "bad" } } }]) {
      script = [a, ok(1)];
      seen.length = 0;
      await assert.rejects(new ServingClient(url, "t").call("inc", []));
      assert.equal(seen.length, 1, JSON.stringify(a));
    }
  });

  it("a streamed call and fromServing's check ride through it too", async () => {
    script = [unavailable(), { status: 200, body: [1, 2, 3], ndjson: true }];
    const items: unknown[] = [];
    for await (const x of new ServingClient(url, "t").stream("count", [])) items.push(x);
    assert.deepEqual(items, [1, 2, 3]);
    script = [unavailable(), ok({ name: "Kit", kind: "class", methods: { inc: {} }, fields: [], version: "v1", forward: null })];
    const kit = await fromServing<{ inc(): Promise<number> }>(url, "t", { retryUnavailableMs: 5_000 });
    script = [ok(2)];
    assert.equal(await kit.inc(), 2);
  });

  it("Retry-After: seconds or an HTTP date, kept between 50 ms and 5 s; absent or unreadable is 1 s", () => {
    assert.equal(retryAfterMs("2"), 2_000);
    assert.equal(retryAfterMs("0"), 50);
    assert.equal(retryAfterMs("600"), 5_000);
    assert.equal(retryAfterMs(undefined), 1_000);
    assert.equal(retryAfterMs("soon"), 1_000);
    const now = Date.parse("2026-12-02T10:00:00Z");
    assert.equal(retryAfterMs("Wed, 02 Dec 2026 10:00:03 GMT", now), 3_000);
  });
});

describe("serving calls while the control plane in front of the serving restarts", () => {
  /** A serving URL whose listener answers `value`, can be stopped and started again on the same port. */
  async function restartable(value: unknown) {
    const make = () =>
      createServer((req, res) => {
        req.resume();
        req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true, value: toWire(value) })));
      });
    let s = make();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const port = (s.address() as AddressInfo).port;
    return {
      url: `http://127.0.0.1:${port}/s/ws/Kit/`,
      // Stopped, then a moment for the client to see its kept connection closed (as after a real
      // restart): a method call sent on a connection closing under it is not repeated (it may have run).
      stop: () => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => setTimeout(r, 100)))),
      start: () => new Promise<void>((r) => (s = make()).listen(port, "127.0.0.1", r)),
    };
  }

  it("a refused connection to a serving reached before is asked again within the budget (the request never left)", async () => {
    const up = await restartable(5);
    const client = new ServingClient(up.url, "t", { retryUnavailableMs: 10_000 });
    assert.equal(await client.call("inc", []), 5);
    await up.stop();
    setTimeout(() => void up.start(), 1_500);
    assert.equal(await client.call("inc", []), 5, "answered once the listener is back");
    await up.stop();
  });

  it("a serving never reached fails at once (a wrong URL is not waited on); past the budget it says how long it tried", async () => {
    const up = await restartable(1);
    await up.stop();
    const t0 = performance.now();
    await assert.rejects(new ServingClient(up.url, "t").call("inc", []), (e: NboxError) => e.code === "UNAVAILABLE" && /cannot reach serving/.test(e.message));
    assert.ok(performance.now() - t0 < 1_000, "not retried");
    await up.start();
    const client = new ServingClient(up.url, "t", { retryUnavailableMs: 1_500 });
    assert.equal(await client.call("inc", []), 1);
    await up.stop();
    await assert.rejects(client.call("inc", []), (e: NboxError) => e.code === "UNAVAILABLE" && /still so after \d+ tries/.test(e.message));
  });
});
