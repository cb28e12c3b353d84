// The serving app in-process (no child, no platform): `app.request()` over a plain instance.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { toWire } from "../../../src/codec/index.ts";
import { createServingApp, SECRET_HEADER, surfaceOf } from "../../../src/platform/serving/index.ts";

class Counter {
  n = 0;
  closed = false;
  inc(by = 1) {
    return (this.n += by);
  }
  async *ticks() {
    try {
      for (let i = 0; ; i++) yield i;
    } finally {
      this.closed = true;
    }
  }
}

const make = (target = new Counter()) => ({
  target,
  app: createServingApp({ surface: surfaceOf(target, "class"), meta: { name: "Counter", kind: "class", version: "v1" }, timeoutMs: 1000, concurrency: 1, maxBodyBytes: 1024, secret: "s3cret" }),
});
const post = (body: unknown) => ({ method: "POST", headers: { [SECRET_HEADER]: "s3cret", "content-type": "application/json" }, body: JSON.stringify(body) });

describe("serving app (in-process)", () => {
  it("answers only requests carrying the platform's secret", async () => {
    const { app } = make();
    assert.equal((await app.request("/who_are_you")).status, 403);
    assert.equal((await app.request("/who_are_you", { headers: { [SECRET_HEADER]: "wrong!" } })).status, 403);
    const ok = await app.request("/who_are_you", { headers: { [SECRET_HEADER]: "s3cret" } });
    assert.equal(ok.status, 200);
    assert.deepEqual(((await ok.json()) as { value: { fields: string[] } }).value.fields, ["n", "closed"]);
  });

  it("calls methods with codec args and reports the state", async () => {
    const { app, target } = make();
    const r = await app.request("/call/inc", post({ args: toWire([5]) }));
    assert.deepEqual(await r.json(), { ok: true, value: 5 });
    assert.equal(target.n, 5);
    assert.equal((await app.request("/call/inc", post({ args: toWire([1, 2]) }))).status, 400);
    assert.equal((await app.request("/call/inc", post({ args: toWire(["x".repeat(2000)]) }))).status, 413);
  });

  it("a cancelled stream calls the generator's return()", async () => {
    const { app, target } = make();
    const res = await app.request("/stream/ticks", post({ args: [] }));
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.equal(JSON.parse(first.split("\n")[0]!).value, 0);
    await reader.cancel();
    for (let i = 0; i < 50 && !target.closed; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(target.closed, true);
  });
});

describe("serving app: arity from the signature recorded at deploy", () => {
  class Notes {
    add(title: string, body?: string) {
      return body === undefined ? title : `${title}: ${body}`;
    }
  }
  const params = [
    { name: "title", optional: false, rest: false },
    { name: "body", optional: true, rest: false },
  ];
  const appWith = (recorded: Record<string, unknown>) =>
    createServingApp({ surface: surfaceOf(new Notes(), "class", recorded), meta: { name: "Notes", kind: "class", version: "v1" }, timeoutMs: 1000, concurrency: 1, maxBodyBytes: 1024, secret: "s3cret" });
  const status = async (app: ReturnType<typeof appWith>, args: unknown[]) => (await app.request("/call/add", post({ args }))).status;

  it("TypeScript's ? (recorded at deploy) makes a parameter optional; too few or too many is 400", async () => {
    const app = appWith({ methods: { add: { params, minArgs: 1, maxArgs: 2 } } });
    assert.equal(await status(app, ["t"]), 200);
    assert.equal(await status(app, ["t", "b"]), 200);
    const r = await app.request("/call/add", post({ args: [] }));
    assert.equal(r.status, 400);
    assert.deepEqual(await r.json(), { ok: false, error: { code: "BAD_ARGS", name: "ServingError", message: "add(title, body?) takes 1-2 arguments, got 0" } });
    assert.equal(await status(app, ["a", "b", "c"]), 400);
  });

  it("a signature recorded before minArgs existed sets no lower bound (it cannot tell ? parameters apart)", async () => {
    const app = appWith({ methods: { add: { params: params.map((p) => ({ ...p, optional: false })), maxArgs: 2 } } });
    assert.equal(await status(app, []), 200);
    assert.equal(await status(app, ["a", "b", "c"]), 400);
  });

  it("without a recording, the live function's parameters count (defaults are optional)", async () => {
    const app = appWith({});
    assert.equal(await status(app, []), 400, "the compiled JavaScript has no ?: title and body are required");
    assert.equal(await status(app, ["t", "b"]), 200);
  });
});

/** Like a class with `__getattr__`: its constructor returns a Proxy answering unknown names. */
class Echo {
  x = 1;
  _secret = "hidden";
  constructor() {
    return new Proxy(this, { get: (t, k, r) => (typeof k === "symbol" || k in t ? Reflect.get(t, k, r) : `echo:${k}`) });
  }
  get double() {
    return this.x * 2;
  }
  inc() {
    return ++this.x;
  }
}

describe("serving app: attribute reads resolve on the live instance", () => {
  const app = createServingApp({ surface: surfaceOf(new Echo(), "class"), meta: { name: "Echo", kind: "class", version: "v1" }, timeoutMs: 1000, concurrency: 1, maxBodyBytes: 1024, secret: "s3cret" });
  const get = async (path: string) => {
    const r = await app.request(path, { headers: { [SECRET_HEADER]: "s3cret" } });
    return { status: r.status, body: (await r.json()) as { ok: boolean; value?: unknown; error?: { message: string } } };
  };

  it("own fields, getters and whatever the instance's own get trap answers", async () => {
    assert.deepEqual((await get("/attr/x")).body, { ok: true, value: 1 });
    assert.deepEqual((await get("/attr/double")).body, { ok: true, value: 2 });
    assert.deepEqual((await get("/attr/jj_guverner")).body, { ok: true, value: "echo:jj_guverner" });
    await app.request("/call/inc", post({ args: [] }));
    assert.deepEqual((await get("/attr/x")).body, { ok: true, value: 2 });
  });

  it("private, framework and Object names are never read, even when the trap would answer them", async () => {
    for (const name of ["_secret", "%23x", "$set", "constructor", "__proto__", "prototype", "toString", "valueOf", "hasOwnProperty", "deploy", "map", "remoteInit", "forward", "then"]) {
      const r = await get(`/attr/${name}`);
      assert.equal(r.status, 404, `attr/${name}: ${JSON.stringify(r.body)}`);
      assert.doesNotMatch(JSON.stringify(r.body), /echo:|hidden/);
    }
    const method = await get("/attr/inc");
    assert.equal(method.status, 404);
    assert.match(method.body.error!.message, /has a method, not a field, named "inc"/);
  });

  it("who_are_you lists the fields the instance shows (own data fields and getters)", async () => {
    const who = (await get("/who_are_you")).body.value as { fields: string[] };
    assert.deepEqual(who.fields.sort(), ["double", "x"]);
  });
});
