// The serving app without a platform: `app.request()` in this process over a child runtime that
// holds the instance (no socket, no proxy).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { toWire } from "../../../src/codec/index.ts";
import type { RuntimeProcess } from "../../../src/worker/runtime/runtime-process.ts";
import { tempProject, type TempProject } from "../executor/_project.ts";
import { appOver, get, post, servingRuntime } from "../../worker/runtime/_runtime.ts";

const OPS = `
export class Counter {
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

export class Notes {
  // A private field, as in the README's Notes: the method using it must still have its arity read.
  #added = 0;
  add(title: string, body?: string) {
    this.#added++;
    return body === undefined ? title : title + ": " + body;
  }
}

/** Like a class with __getattr__: its constructor returns a Proxy answering unknown names. */
export class Echo {
  x = 1;
  _secret = "hidden";
  constructor() {
    return new Proxy(this, { get: (t, k, r) => (typeof k === "symbol" || k in t ? Reflect.get(t, k, r) : "echo:" + String(k)) });
  }
  get double() {
    return this.x * 2;
  }
  inc() {
    return ++this.x;
  }
}
`;

let project: TempProject;
const runtimes: RuntimeProcess[] = [];
before(async () => {
  project = await tempProject(OPS);
});
after(async () => {
  await Promise.all(runtimes.map((rt) => rt.kill("test")));
  await project.cleanup();
});

async function appFor(exportName: string, signature?: Record<string, unknown>) {
  const { rt, surface } = await servingRuntime(project, exportName, { signature });
  runtimes.push(rt);
  return appOver(rt, surface, exportName);
}

const json = async (r: Response) => (await r.json()) as { ok: boolean; value?: unknown; error?: { code?: string; name?: string; message: string } };

describe("serving app", () => {
  let app: Awaited<ReturnType<typeof appFor>>;
  before(async () => {
    app = await appFor("Counter");
  });

  // The app has no socket of its own: the worker's listener, which refuses requests without the
  // control plane's proxy secret (test/worker/worker-listener.test.ts), is the only way in.
  it("who_are_you names the instance's public fields", async () => {
    const ok = await app.request("/who_are_you", get);
    assert.equal(ok.status, 200);
    assert.deepEqual(((await json(ok)).value as { fields: string[] }).fields, ["n", "closed"]);
  });

  it("calls methods with codec args and reports the state", async () => {
    const r = await app.request("/call/inc", post({ args: toWire([5]) }));
    assert.deepEqual(await r.json(), { ok: true, value: 5 });
    assert.deepEqual(await json(await app.request("/attr/n", get)), { ok: true, value: 5 });
    assert.equal((await app.request("/call/inc", post({ args: toWire([1, 2]) }))).status, 400);
    assert.equal((await app.request("/call/inc", post({ args: toWire(["x".repeat(2000)]) }))).status, 413);
    const hidden = await app.request("/call/constructor", post({ args: [] }));
    assert.equal(hidden.status, 404);
    // The answer names the methods there are (a caller sees them in /who_are_you too), never a hidden name.
    const { error } = (await hidden.json()) as { error: { message: string } };
    assert.match(error.message, /has no method "constructor"; its methods: [\w, ]*\binc\b/);
    assert.doesNotMatch(error.message.split("its methods:")[1]!, /constructor|_|remoteInit/);
  });

  it("health answers once the child does", async () => {
    const r = await app.request("/", get);
    assert.equal(r.status, 200);
    assert.deepEqual((await json(r)).value, { status: "ready", name: "Counter", version: "v1", queued: 0 });
  });

  it("a cancelled stream calls the generator's return()", async () => {
    const res = await app.request("/stream/ticks", post({ args: [] }));
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.equal(JSON.parse(first.split("\n")[0]!).value, 0);
    await reader.cancel();
    let closed: unknown;
    for (let i = 0; i < 50 && closed !== true; i++) {
      await new Promise((r) => setTimeout(r, 10));
      closed = (await json(await app.request("/attr/closed", get))).value;
    }
    assert.equal(closed, true);
  });
});

describe("serving app: arity from the signature recorded at deploy", () => {
  const params = [
    { name: "title", optional: false, rest: false },
    { name: "body", optional: true, rest: false },
  ];
  const status = async (app: Awaited<ReturnType<typeof appFor>>, args: unknown[]) => (await app.request("/call/add", post({ args }))).status;

  it("TypeScript's ? (recorded at deploy) makes a parameter optional; too few or too many is 400", async () => {
    const app = await appFor("Notes", { methods: { add: { params, minArgs: 1, maxArgs: 2 } } });
    assert.equal(await status(app, ["t"]), 200);
    assert.equal(await status(app, ["t", "b"]), 200);
    const r = await app.request("/call/add", post({ args: [] }));
    assert.equal(r.status, 400);
    assert.deepEqual(await r.json(), { ok: false, error: { code: "BAD_ARGS", name: "ServingError", message: "add(title, body?) takes 1-2 arguments, got 0" } });
    assert.equal(await status(app, ["a", "b", "c"]), 400);
  });

  it("a signature recorded before minArgs existed sets no lower bound (it cannot tell ? parameters apart)", async () => {
    const app = await appFor("Notes", { methods: { add: { params: params.map((p) => ({ ...p, optional: false })), maxArgs: 2 } } });
    assert.equal(await status(app, []), 200);
    assert.equal(await status(app, ["a", "b", "c"]), 400);
  });

  it("without a recording, the live function's parameters count (defaults are optional)", async () => {
    const app = await appFor("Notes");
    assert.equal(await status(app, []), 400, "the compiled JavaScript has no ?: title and body are required");
    assert.equal(await status(app, ["t", "b"]), 200);
  });
});

describe("serving app: attribute reads resolve on the live instance", () => {
  let app: Awaited<ReturnType<typeof appFor>>;
  before(async () => {
    app = await appFor("Echo");
  });
  const read = async (path: string) => {
    const r = await app.request(path, get);
    return { status: r.status, body: await json(r) };
  };

  it("own fields, getters and whatever the instance's own get trap answers", async () => {
    assert.deepEqual((await read("/attr/x")).body, { ok: true, value: 1 });
    assert.deepEqual((await read("/attr/double")).body, { ok: true, value: 2 });
    assert.deepEqual((await read("/attr/jj_guverner")).body, { ok: true, value: "echo:jj_guverner" });
    await app.request("/call/inc", post({ args: [] }));
    assert.deepEqual((await read("/attr/x")).body, { ok: true, value: 2 });
  });

  it("private, framework and Object names are never read, even when the trap would answer them", async () => {
    for (const name of ["_secret", "%23x", "$set", "constructor", "__proto__", "prototype", "toString", "valueOf", "hasOwnProperty", "deploy", "map", "remoteInit", "forward", "then"]) {
      const r = await read(`/attr/${name}`);
      assert.equal(r.status, 404, `attr/${name}: ${JSON.stringify(r.body)}`);
      assert.doesNotMatch(JSON.stringify(r.body), /echo:|hidden/);
    }
    const method = await read("/attr/inc");
    assert.equal(method.status, 404);
    assert.match(method.body.error!.message, /has a method, not a field, named "inc"/);
  });

  it("who_are_you lists the fields the instance shows (own data fields and getters)", async () => {
    const who = (await read("/who_are_you")).body.value as { fields: string[] };
    assert.deepEqual(who.fields.sort(), ["double", "x"]);
  });
});
