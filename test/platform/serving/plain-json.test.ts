// Servings for callers that are not the SDK: plain JSON over plain HTTP (as curl sends it) against a
// real deployed serving. Every conversion of the plain projection, arity errors naming the
// signature, argument types checked against the deploy-time schemas, the one error envelope, and
// the SDK still getting rich values through the tagged codec.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ERROR_CODES } from "../../../src/index.ts";
import { importProject, raw, REPO, startTestPlatform, wsName, type TestPlatform } from "./_helpers.ts";

const TAGGED = "application/vnd.nbox+json";

describe("servings: plain JSON for plain HTTP callers", () => {
  let tp: TestPlatform;
  let typed: any;
  let url: string;
  let token: string;
  /** `curl -X POST <url>call/<method> -H 'content-type: application/json' -d '{"args": [...]}'` */
  const call = (method: string, args?: unknown[], headers: Record<string, string> = {}) => raw(url, token, "POST", `call/${method}`, args === undefined ? undefined : { args }, headers);

  before(async () => {
    tp = await startTestPlatform();
    const { mod } = await importProject(join(REPO, "test/platform/serving/fixtures/typed"));
    typed = await mod.Typed.deploy(wsName("plain"));
    url = typed.$url;
    token = typed.$token;
  });
  after(async () => {
    await tp?.close();
  });

  it("the seed's Bar: curl -X POST …/call/inc answers {\"ok\":true}, no codec tags", async () => {
    const { mod } = await importProject(join(REPO, "examples/bar"));
    const bar = await mod.Bar.deploy(wsName("bar"));
    const res = await fetch(`${bar.$url}call/inc`, { method: "POST", headers: { authorization: `Bearer ${bar.$token}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    assert.equal(await res.text(), '{"ok":true}');
    assert.deepEqual((await raw(bar.$url, bar.$token, "GET", "attr/x")).json, { ok: true, value: 2 });
  });

  it("every rich value has its plain JSON form", async () => {
    const r = await call("values");
    assert.equal(r.status, 200, r.text);
    assert.ok(!r.text.includes("$nbx\":\"undef") || r.text.includes('"obj":{"$nbx":"undef"}'), "no codec tags except the user's own data");
    assert.deepEqual(r.json, {
      ok: true,
      value: {
        d: "2024-01-02T03:04:05.000Z",
        bad: null,
        s: [1, 2],
        m: { a: 1 },
        mk: [[1, "one"], [true, "yes"]],
        empty: {},
        big: "100000000000000000000",
        bytes: "AQID",
        buf: "aGk=",
        nan: null,
        inf: null,
        ninf: null,
        negZero: 0,
        err: { name: "TypeError", message: "bad thing" },
        arr: [1, null, 3],
        nested: { deep: ["1970-01-01T00:00:00.000Z"], obj: { $nbx: "undef" } },
      },
    });
    assert.ok(!("u" in r.json.value), "an undefined field is left out");
    assert.equal((await call("nothing")).text, '{"ok":true}', "undefined result: no value");
    assert.deepEqual((await raw(url, token, "GET", "attr/label")).json, { ok: true, value: "typed" });
  });

  it("plain JSON arguments are taken as plain JSON and rebuilt into the declared types", async () => {
    const add = await call("add", ["title only"]);
    assert.deepEqual(add.json, { ok: true, value: { title: "title only", at: "2024-05-06T07:08:09.000Z", tags: ["new"] } });
    assert.deepEqual((await call("since", ["1970-01-01T00:00:01.500Z"])).json, { ok: true, value: 1500 });
    assert.deepEqual((await call("double", ["12345678901234567890"])).json, { ok: true, value: "24691357802469135780" });
    assert.deepEqual((await call("size", ["AQIDBA=="])).json, { ok: true, value: 4 });
    assert.deepEqual((await call("tally", [{ a: 1, b: 2 }, ["x", "y"]])).json, { ok: true, value: "true:true:3:x,y" });
    assert.deepEqual((await call("find", [{ kind: "done", limit: 3 }])).json, { ok: true, value: "done:3" });
    assert.deepEqual((await call("sum", [1, 2, 3])).json, { ok: true, value: 6 });
    // A plain caller's data is data: an object that looks like a codec tag stays an object.
    assert.deepEqual((await call("echo", [{ $nbx: "undef" }])).json, { ok: true, value: { $nbx: "undef" } });
    assert.deepEqual((await call("typeOf", [{ $nbx: "date", v: "2024-01-01T00:00:00.000Z" }])).json, { ok: true, value: "Object" });
    // null for a parameter that may be left out means "not given".
    assert.deepEqual((await call("add", ["t", null])).json.value, { title: "t", at: "2024-05-06T07:08:09.000Z", tags: ["new"] });
    // No body at all: no arguments.
    assert.equal((await call("nothing")).status, 200);
  });

  it("arity: too few or too many arguments are 400 naming the method's signature", async () => {
    const cases: [string, unknown[] | undefined, string][] = [
      ["add", undefined, "add(title, body?) takes 1-2 arguments, got 0"],
      ["add", [], "add(title, body?) takes 1-2 arguments, got 0"],
      ["add", ["a", "b", "c"], "add(title, body?) takes 1-2 arguments, got 3"],
      ["nothing", [1], "nothing() takes 0 arguments, got 1"],
      ["since", [], "since(d) takes 1 argument, got 0"],
      ["tally", [{}], "tally(m, s) takes 2 arguments, got 1"],
    ];
    const before = (await raw(url, token, "GET", "attr/count")).json.value;
    for (const [method, args, message] of cases) {
      const r = await call(method, args);
      assert.equal(r.status, 400, `${method} ${JSON.stringify(args)}`);
      assert.deepEqual(r.json, { ok: false, error: { code: "BAD_ARGS", name: "ServingError", message } });
    }
    assert.equal((await raw(url, token, "GET", "attr/count")).json.value, before, "no call with a wrong arity ran");
    assert.equal((await call("sum", [])).json.value, 0, "a rest parameter takes any number");
  });

  it("schemas: arguments of the wrong type are 400 naming the parameter and what was expected", async () => {
    const cases: [string, unknown[], RegExp][] = [
      ["add", [5], /^add\(title, body\?\): argument title must be string \(got 5\)$/],
      ["add", ["t", 7], /^add\(title, body\?\): argument body must be string \(got 7\)$/],
      ["find", [{ kind: "later" }], /^find\(q\): argument q\.kind must be one of "todo", "done" \(got "later"\)$/],
      ["find", [{ limit: 1 }], /^find\(q\): argument q is missing the required field "kind"$/],
      ["sum", [1, "two"], /^sum\(\.\.\.xs\): argument xs\[1\] must be number \(got "two"\)$/],
      ["since", ["not a date"], /^since\(d\): argument d must be a date \(ISO 8601 string\) \(got "not a date"\)$/],
      ["double", ["1.5"], /^double\(n\): argument n must match pattern/],
      ["tally", [{ a: "x" }, []], /^tally\(m, s\): argument m\.a must be number \(got "x"\)$/],
    ];
    for (const [method, args, message] of cases) {
      const r = await call(method, args);
      assert.equal(r.status, 400, `${method} ${JSON.stringify(args)}: ${r.text}`);
      assert.equal(r.json.error.code, "BAD_ARGS");
      assert.match(r.json.error.message, message);
    }
    // Field writes too.
    const put = await raw(url, token, "PUT", "attr/count", { value: "many" });
    assert.equal(put.status, 400);
    assert.match(put.json.error.message, /^count must be number \(got "many"\)$/);
    assert.deepEqual((await raw(url, token, "PUT", "attr/count", { value: 41 })).json, { ok: true });
    assert.equal(await typed.count, 41);
    // The SDK's arguments are checked the same way.
    await assert.rejects(typed.add(5), (e: any) => e.code === "BAD_ARGS" && e.status === 400 && /argument title must be string/.test(e.message));
  });

  it("the SDK asks for the tagged codec and keeps rich values both ways", async () => {
    const v = await typed.values();
    assert.ok(v.d instanceof Date && v.d.toISOString() === "2024-01-02T03:04:05.000Z");
    assert.ok(Number.isNaN(v.bad.getTime()));
    assert.ok(v.s instanceof Set && v.s.has(2));
    assert.ok(v.m instanceof Map && v.m.get("a") === 1);
    assert.ok(v.mk instanceof Map && v.mk.get(1) === "one" && v.mk.get(true) === "yes");
    assert.equal(v.big, 10n ** 20n);
    assert.ok(v.bytes instanceof Uint8Array && !Buffer.isBuffer(v.bytes));
    assert.ok(Buffer.isBuffer(v.buf) && v.buf.toString() === "hi");
    assert.ok(Number.isNaN(v.nan) && v.inf === Infinity && v.ninf === -Infinity && Object.is(v.negZero, -0));
    assert.ok(v.err instanceof TypeError && v.err.message === "bad thing");
    assert.ok("u" in v && v.u === undefined);
    assert.deepEqual(v.arr, [1, undefined, 3]);
    assert.deepEqual(v.nested.obj, { $nbx: "undef" });
    assert.equal(await typed.since(new Date(42)), 42);
    assert.equal(await typed.double(21n), 42n);
    assert.equal(await typed.tally(new Map([["a", 1]]), new Set(["z"])), "true:true:1:z");
    assert.equal(await typed.nothing(), undefined);
    // Explicitly asking for it over HTTP gives the tagged form with its media type.
    const tagged = await call("nothing", [], { accept: TAGGED });
    assert.match(tagged.text, /^\{"ok":true,"value":\{"\$nbx":"undef"\}\}$/);
    const res = await fetch(`${url}call/since`, { method: "POST", headers: { authorization: `Bearer ${token}`, accept: TAGGED, "content-type": TAGGED }, body: JSON.stringify({ args: [{ $nbx: "date", v: "1970-01-01T00:00:00.007Z" }] }) });
    assert.match(res.headers.get("content-type") ?? "", /^application\/vnd\.nbox\+json/);
    assert.deepEqual(await res.json(), { ok: true, value: 7 });
  });

  it("streams send plain JSON lines to plain callers", async () => {
    const r = await raw(url, token, "POST", "stream/items", { args: [2] });
    assert.equal(r.status, 200);
    assert.deepEqual(r.text.trim().split("\n").map((l) => JSON.parse(l)), [
      { ok: true, value: { i: 0, at: "1970-01-01T00:00:00.000Z" } },
      { ok: true, value: { i: 1, at: "1970-01-01T00:00:00.001Z" } },
      { ok: true, done: true },
    ]);
    const items = await typed.items(1);
    assert.ok(items[0].at instanceof Date, "the SDK's stream stays rich");
  });

  it("one error envelope { ok: false, error: { code, name, message, stack? } } with codes from the closed list", async () => {
    const thrown = await call("fail", ["out of range"]);
    assert.equal(thrown.status, 500);
    assert.deepEqual(Object.keys(thrown.json.error).sort(), ["code", "message", "name", "stack"]);
    assert.equal(thrown.json.error.code, "USER_CODE");
    assert.equal(thrown.json.error.name, "RangeError");
    assert.equal(thrown.json.error.message, "out of range");
    assert.match(thrown.json.error.stack, /\(ops\.ts:\d+:\d+\)/, "stack frames relative to the bundle root");
    assert.ok(!thrown.json.error.stack.includes(REPO) && !/\/tmp\//.test(thrown.json.error.stack), thrown.json.error.stack);
    const missing = await call("nope", []);
    assert.equal(missing.status, 404);
    assert.deepEqual(Object.keys(missing.json.error).sort(), ["code", "message", "name"]);
    assert.equal(missing.json.error.code, "NOT_FOUND");
    const unauthorized = await raw(url, "nbx_wrong", "POST", "call/nothing");
    assert.equal(unauthorized.status, 401);
    assert.equal(unauthorized.json.error.code, "UNAUTHORIZED");
    for (const r of [thrown, missing, unauthorized]) assert.ok((ERROR_CODES as readonly string[]).includes(r.json.error.code));
  });

  it("/openapi.json describes arguments, results, fields and errors with the TypeScript types", async () => {
    const doc = (await raw(url, token, "GET", "openapi.json")).json;
    const add = doc.paths["/call/add"].post;
    assert.equal(add.requestBody.required, true);
    const args = add.requestBody.content["application/json"].schema.properties.args;
    assert.deepEqual(
      args.anyOf.map((v: any) => v.prefixItems),
      [[{ type: "string" }], [{ type: "string" }, { type: "string" }]],
      "one tuple per accepted length",
    );
    const ok = add.responses["200"].content["application/json"].schema;
    assert.deepEqual(ok, { type: "object", properties: { ok: { const: true }, value: { $ref: "#/components/schemas/Note" } }, required: ["ok", "value"] });
    const note = doc.components.schemas.Note;
    assert.deepEqual(note.properties.at, { type: "string", format: "date-time", "x-nbox-type": "Date" });
    assert.deepEqual(note.properties.tags, { type: "array", items: { type: "string" }, "x-nbox-type": "Set" });
    assert.deepEqual(note.required, ["title", "at", "tags"]);
    assert.deepEqual(doc.paths["/call/nothing"].post.responses["200"].content["application/json"].schema.required, ["ok"]);
    assert.deepEqual(doc.paths["/call/sum"].post.requestBody.content["application/json"].schema.properties.args.items, { type: "number" });
    assert.equal(doc.paths["/attr/count"].get.responses["200"].content["application/json"].schema.properties.value.type, "number");
    // What JSON Schema cannot express is {} with a note saying so.
    const cb = doc.paths["/call/later"].post.requestBody.content["application/json"].schema.properties.args.prefixItems[0];
    assert.match(cb["x-nbox-unrepresentable"], /function/);
    assert.deepEqual(doc.paths["/call/fail"].post.responses["500"].content["application/json"].schema, { $ref: "#/components/schemas/nbox.ServingError" });
    assert.deepEqual(doc.components.schemas["nbox.ServingError"].properties.error.properties.code.enum, [...ERROR_CODES]);
    assert.match(doc.info.description, /NaN and ±Infinity are sent as null/);
  });
});
