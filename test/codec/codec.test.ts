import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import {
  CODEC_VERSION,
  CodecError,
  TAG_KEY,
  decode,
  decodeEnvelope,
  encode,
  encodeEnvelope,
  encodedSize,
  fromWire,
  toWire,
} from "../../src/codec/index.ts";

const roundTrip = (v: unknown): unknown => decode(encode(v));

function throwsCodec(fn: () => unknown, message: RegExp): CodecError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof CodecError, `expected CodecError, got ${String(caught)}`);
  assert.equal(caught.name, "CodecError");
  assert.match(caught.message, message);
  return caught;
}

// ---------- arbitraries ----------

const errorCtors = [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError] as const;

const { tree } = fc.letrec<{ tree: unknown; leaf: unknown; container: unknown }>((tie) => ({
  tree: fc.oneof({ depthSize: "small", withCrossShrink: true }, tie("leaf"), tie("container")),
  leaf: fc.oneof(
    fc.constant(undefined),
    fc.constant(null),
    fc.boolean(),
    fc.double(), // includes NaN, ±Infinity, -0
    fc.integer(),
    fc.bigInt(),
    fc.string({ unit: "binary" }),
    fc.constantFrom(TAG_KEY, "undef", "v", "__proto__"),
    fc.date({ noInvalidDate: true }),
    fc.uint8Array({ maxLength: 16 }),
    fc.uint8Array({ maxLength: 16 }).map((u) => Buffer.from(u)),
  ),
  container: fc.oneof(
    { depthSize: "small" },
    fc.array(tie("tree"), { maxLength: 5 }),
    fc.dictionary(fc.oneof(fc.string(), fc.constantFrom(TAG_KEY, "v", "__proto__", "constructor")), tie("tree"), {
      maxKeys: 5,
      noNullPrototype: true,
    }),
    fc.array(fc.tuple(tie("tree"), tie("tree")), { maxLength: 4 }).map((entries) => new Map(entries)),
    fc.array(tie("tree"), { maxLength: 4 }).map((items) => new Set(items)),
    // Values that look exactly like tags must still come back as the user's plain objects.
    fc.record(
      { [TAG_KEY]: fc.constantFrom("undef", "date", "map", "obj", "bogus"), v: tie("tree") },
      { noNullPrototype: true },
    ),
    fc
      .record({
        ctor: fc.constantFrom(...errorCtors),
        message: fc.string(),
        customName: fc.option(fc.constantFrom("MyError", "HttpError"), { nil: undefined }),
        cause: fc.option(tie("tree"), { nil: undefined }),
        withCause: fc.boolean(),
        code: fc.option(fc.oneof(fc.string(), fc.integer()), { nil: undefined }),
      })
      .map(({ ctor, message, customName, cause, withCause, code }) => {
        const err = withCause ? new ctor(message, { cause }) : new ctor(message);
        if (customName !== undefined && ctor === Error) err.name = customName;
        if (code !== undefined) (err as Error & { code?: unknown }).code = code;
        return err;
      }),
  ),
}));

// ---------- tests ----------

describe("codec round trip (property)", () => {
  it("decode(encode(x)) deep-equals x for nested values of every tagged type", () => {
    fc.assert(
      fc.property(tree, (v) => {
        assert.deepStrictEqual(roundTrip(v), v);
      }),
      { numRuns: 400 },
    );
  });

  it("fromWire(toWire(x)) deep-equals x and the wire tree survives JSON", () => {
    fc.assert(
      fc.property(tree, (v) => {
        const wire = toWire(v);
        assert.deepStrictEqual(fromWire(JSON.parse(JSON.stringify(wire))), v);
        assert.deepStrictEqual(fromWire(wire), v);
      }),
      { numRuns: 200 },
    );
  });

  it("plain JSON values survive unchanged (fc.jsonValue)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        assert.deepStrictEqual(roundTrip(v), v);
      }),
    );
  });

  it("encodedSize matches the UTF-8 length of encode()", () => {
    fc.assert(
      fc.property(tree, (v) => {
        assert.equal(encodedSize(v), Buffer.byteLength(encode(v)));
      }),
      { numRuns: 50 },
    );
  });
});

describe("codec tagged types", () => {
  it("wraps values in a versioned envelope", () => {
    assert.equal(encode(1), '{"v":1,"value":1}');
    assert.equal(CODEC_VERSION, 1);
    assert.deepStrictEqual(encodeEnvelope({ a: 1 }), { v: 1, value: { a: 1 } });
    assert.deepStrictEqual(decodeEnvelope({ v: 1, value: { a: { [TAG_KEY]: "undef" } } }), { a: undefined });
  });

  it("undefined at top level, in arrays, in holes and as object values", () => {
    assert.equal(roundTrip(undefined), undefined);
    assert.deepStrictEqual(roundTrip([1, undefined, 3]), [1, undefined, 3]);
    const withKey = roundTrip({ a: undefined, b: 1 }) as Record<string, unknown>;
    assert.ok(Object.prototype.hasOwnProperty.call(withKey, "a"));
    assert.deepStrictEqual(withKey, { a: undefined, b: 1 });
    // eslint-disable-next-line no-sparse-arrays
    assert.deepStrictEqual(roundTrip([, 1]), [undefined, 1]);
  });

  it("special numbers", () => {
    for (const n of [NaN, Infinity, -Infinity, -0, 0, 1.5, Number.MAX_VALUE, Number.MIN_VALUE]) {
      assert.ok(Object.is(roundTrip(n), n), `round trip of ${n}`);
    }
  });

  it("BigInt", () => {
    for (const b of [0n, -1n, 2n ** 200n, -(2n ** 70n)]) assert.equal(roundTrip(b), b);
  });

  it("Date, including invalid dates", () => {
    const d = roundTrip(new Date("2024-02-29T12:34:56.789Z"));
    assert.ok(d instanceof Date);
    assert.equal(d.toISOString(), "2024-02-29T12:34:56.789Z");
    const bad = roundTrip(new Date(NaN));
    assert.ok(bad instanceof Date);
    assert.ok(Number.isNaN(bad.getTime()));
    const far = new Date(8.64e15);
    assert.equal((roundTrip(far) as Date).getTime(), 8.64e15);
  });

  it("Map with non-string keys and Set", () => {
    const key = { id: 1 };
    const m = new Map<unknown, unknown>([
      [key, "obj"],
      [1, "num"],
      ["1", "str"],
      [undefined, NaN],
      [new Date(0), new Set([1n])],
    ]);
    assert.deepStrictEqual(roundTrip(m), m);
    assert.deepStrictEqual(roundTrip(new Set([1, "1", undefined, { a: [1] }])), new Set([1, "1", undefined, { a: [1] }]));
  });

  it("Uint8Array and Buffer keep their types, including sliced views", () => {
    const u = roundTrip(new Uint8Array([0, 1, 255]));
    assert.ok(u instanceof Uint8Array && !Buffer.isBuffer(u));
    assert.deepStrictEqual(u, new Uint8Array([0, 1, 255]));
    const b = roundTrip(Buffer.from("héllo"));
    assert.ok(Buffer.isBuffer(b));
    assert.equal(b.toString(), "héllo");
    const view = new Uint8Array([9, 8, 7, 6, 5]).subarray(1, 3);
    assert.deepStrictEqual(roundTrip(view), new Uint8Array([8, 7]));
  });

  it("Errors keep built-in classes, name, message, stack, cause and own props", () => {
    const inner = new RangeError("too big");
    const err = new TypeError("outer", { cause: inner }) as TypeError & { code?: string; details?: unknown };
    err.code = "E_BAD";
    err.details = { at: new Date(0), n: 1n };
    const back = roundTrip(err) as typeof err;
    assert.ok(back instanceof TypeError);
    assert.equal(back.name, "TypeError");
    assert.equal(back.message, "outer");
    assert.equal(back.stack, err.stack);
    assert.equal(back.code, "E_BAD");
    assert.deepStrictEqual(back.details, { at: new Date(0), n: 1n });
    assert.ok(back.cause instanceof RangeError);
    assert.equal((back.cause as Error).message, "too big");
    assert.equal((back.cause as Error).stack, inner.stack);
    assert.deepStrictEqual(back, err);
  });

  it("custom Error subclasses decode as Error with the name preserved", () => {
    class HttpError extends Error {
      constructor(
        message: string,
        public status: number,
      ) {
        super(message);
        this.name = "HttpError";
      }
    }
    class ProtoNamed extends Error {}
    Object.defineProperty(ProtoNamed.prototype, "name", { value: "ProtoNamed" });
    const back = roundTrip(new HttpError("nope", 404)) as Error & { status?: number };
    assert.ok(back instanceof Error);
    assert.equal(back.name, "HttpError");
    assert.equal(back.status, 404);
    assert.equal(back.message, "nope");
    const back2 = roundTrip(new ProtoNamed("x")) as Error;
    assert.equal(back2.name, "ProtoNamed");
    assert.ok(!Object.keys(back2).includes("name"));
    // A non-Error cause, and an explicitly undefined cause.
    assert.equal((roundTrip(new Error("a", { cause: { why: 1 } })) as Error).cause instanceof Object, true);
    const undefCause = roundTrip(new Error("a", { cause: undefined })) as Error;
    assert.ok(Object.prototype.hasOwnProperty.call(undefCause, "cause"));
  });

  it("AggregateError keeps its errors", () => {
    const agg = new AggregateError([new Error("a"), new TypeError("b")], "both");
    const back = roundTrip(agg) as AggregateError;
    assert.ok(back instanceof AggregateError);
    assert.equal(back.errors.length, 2);
    assert.ok(back.errors[1] instanceof TypeError);
  });

  it("class instances travel as their own enumerable fields", () => {
    class Point {
      y = 2;
      constructor(public x: number) {}
      get sum(): number {
        return this.x + this.y;
      }
      norm(): number {
        return 0;
      }
    }
    const back = roundTrip({ p: new Point(1) }) as { p: unknown };
    assert.deepStrictEqual(back, { p: { y: 2, x: 1 } });
    assert.equal(Object.getPrototypeOf(back.p), Object.prototype);
  });

  it("shared (non-cyclic) references are fine", () => {
    const shared = { a: 1 };
    assert.deepStrictEqual(roundTrip([shared, { s: shared }]), [{ a: 1 }, { s: { a: 1 } }]);
  });

  it("deep but acyclic values encode (past the fast-path depth)", () => {
    let deep: unknown = "leaf";
    for (let i = 0; i < 300; i++) deep = i % 2 ? [deep] : { d: deep, u: undefined };
    assert.deepStrictEqual(roundTrip(deep), deep);
    let deeper: unknown[] = [];
    for (let i = 0; i < 2000; i++) deeper = [deeper];
    assert.equal(encode(deeper).length, encode(deeper).length);
  });

  it("absurdly deep values fail with a CodecError, not a crash", () => {
    let deep: unknown[] = [];
    for (let i = 0; i < 1_000_000; i++) deep = [deep];
    throwsCodec(() => encode(deep), /^value is nested too deeply to encode$/);
    const text = `{"v":1,"value":${"[".repeat(1_000_000)}${"]".repeat(1_000_000)}}`;
    throwsCodec(() => decode(text), /nested too deeply to decode|malformed JSON/);
  });
});

describe("codec tag-key escaping", () => {
  it("user objects owning the tag key are never read as tags", () => {
    const lookalikes = [
      { [TAG_KEY]: "undef" },
      { [TAG_KEY]: "date", v: "2020-01-01T00:00:00.000Z" },
      { [TAG_KEY]: "error", v: { name: "TypeError", message: "x" } },
      { [TAG_KEY]: "obj", v: { [TAG_KEY]: "undef" } },
      { [TAG_KEY]: "nonsense", v: 1 },
      { [TAG_KEY]: 42 },
      { [TAG_KEY]: { [TAG_KEY]: "bigint", v: "1" }, other: undefined },
    ];
    for (const obj of lookalikes) {
      assert.deepStrictEqual(roundTrip(obj), obj);
      assert.deepStrictEqual(roundTrip([obj, { nested: obj }]), [obj, { nested: obj }]);
      assert.deepStrictEqual(roundTrip(new Map([[obj, obj]])), new Map([[obj, obj]]));
    }
  });

  it("the tag key inside error props is escaped too", () => {
    const err = Object.assign(new Error("x"), { [TAG_KEY]: "undef" });
    const back = roundTrip(err) as Error & Record<string, unknown>;
    assert.equal(back[TAG_KEY], "undef");
  });

  it("arbitrary tag-shaped objects round trip (property)", () => {
    const tagShaped = fc.dictionary(fc.constantFrom(TAG_KEY, "v", "x"), fc.oneof(fc.string(), fc.jsonValue()), {
      noNullPrototype: true,
    });
    fc.assert(fc.property(tagShaped, (o) => assert.deepStrictEqual(roundTrip(o), o)));
  });

  it("__proto__ keys are data, never prototype changes", () => {
    const evil = JSON.parse('{"__proto__":{"polluted":true},"u":1}') as Record<string, unknown>;
    const back = roundTrip({ evil, also: undefined }) as { evil: Record<string, unknown> };
    assert.equal(Object.getPrototypeOf(back.evil), Object.prototype);
    assert.ok(Object.prototype.hasOwnProperty.call(back.evil, "__proto__"));
    const decoded = decode('{"v":1,"value":{"__proto__":{"polluted":true},"a":{"$nbx":"undef"}}}') as object;
    assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe("codec fast path", () => {
  it("plain JSON-safe data is not copied by toWire/fromWire", () => {
    const plain = { a: [1, "two", { three: true, four: null }], b: { c: 1.5 } };
    assert.equal(toWire(plain), plain);
    assert.equal(fromWire(plain), plain);
    const mixed = { keep: { x: [1, 2] }, change: [1, undefined] };
    const wire = toWire(mixed) as typeof mixed;
    assert.notEqual(wire, mixed);
    assert.equal(wire.keep, mixed.keep); // unchanged subtrees are shared, not copied
  });
});

describe("codec encode errors", () => {
  it("functions name their path", () => {
    throwsCodec(
      () => toWire([{ cb: () => 1 }], { path: "args" }),
      /^args\[0\]\.cb is a function; functions cannot be sent over the wire$/,
    );
    throwsCodec(() => encode({ "my key": [0, function f() {}] }), /^value\["my key"\]\[1\] is a function/);
    const e = throwsCodec(() => encode({ a: { b: Symbol("s") } }), /^value\.a\.b is a symbol/);
    assert.equal(e.path, "value.a.b");
  });

  it("paths through Maps, Sets and Errors", () => {
    throwsCodec(() => encode(new Map([["k", () => 0]])), /^value\.get\("k"\) is a function/);
    throwsCodec(() => encode(new Map([[() => 0, 1]])), /^value<map key #0> is a function/);
    throwsCodec(() => encode(new Set([1, Symbol.iterator])), /^value<set item #1> is a symbol/);
    throwsCodec(() => encode(new Error("x", { cause: { fn: () => 0 } })), /^value\.cause\.fn is a function/);
    throwsCodec(() => encode(Object.assign(new Error("x"), { handler: () => 0 })), /^value\.handler is a function/);
  });

  it("cycles name their path", () => {
    const a: Record<string, unknown> = { list: [] };
    (a.list as unknown[]).push({ back: a });
    throwsCodec(() => toWire(a, { path: "args" }), /^args\.list\[0\]\.back is a circular reference/);
    const arr: unknown[] = [];
    arr.push(arr);
    throwsCodec(() => encode(arr), /^value\[0\] is a circular reference/);
    const m = new Map<string, unknown>();
    m.set("self", m);
    throwsCodec(() => encode(m), /^value\.get\("self"\) is a circular reference/);
    const err = new Error("loop");
    err.cause = err;
    throwsCodec(() => encode(err), /^value\.cause is a circular reference/);
  });

  it("unsupported built-ins are rejected clearly", () => {
    throwsCodec(() => encode({ p: Promise.resolve(1) }), /^value\.p is a Promise; await it/);
    throwsCodec(() => encode(new Float64Array(2)), /Float64Array; only Uint8Array and Buffer/);
    throwsCodec(() => encode(new WeakMap()), /WeakMap/);
    throwsCodec(() => encode(/x/), /RegExp/);
  });
});

describe("codec decode errors", () => {
  it("unknown tag names the tag and the path", () => {
    const e = throwsCodec(() => decode('{"v":1,"value":{"a":[{"$nbx":"zzz"}]}}'), /unknown codec tag "zzz"/);
    assert.equal(e.path, "value.a[0]");
    throwsCodec(() => fromWire({ [TAG_KEY]: 5 }), /must be a string/);
  });

  it("malformed tags are CodecErrors", () => {
    throwsCodec(() => fromWire({ [TAG_KEY]: "bigint", v: "12abc" }), /malformed "bigint" tag/);
    throwsCodec(() => fromWire({ [TAG_KEY]: "bigint", v: "process.exit()" }), /malformed "bigint" tag/);
    throwsCodec(() => fromWire({ [TAG_KEY]: "num", v: "1e999" }), /malformed "num" tag/);
    throwsCodec(() => fromWire({ [TAG_KEY]: "date", v: "not a date" }), /malformed "date" tag/);
    throwsCodec(() => fromWire({ [TAG_KEY]: "map", v: [[1]] }), /malformed "map" tag/);
    throwsCodec(() => fromWire({ [TAG_KEY]: "set", v: {} }), /malformed "set" tag/);
    throwsCodec(() => fromWire({ [TAG_KEY]: "error", v: { name: 1 } }), /malformed "error" tag/);
    throwsCodec(() => fromWire({ [TAG_KEY]: "u8", v: 1 }), /malformed "u8" tag/);
    throwsCodec(() => fromWire({ [TAG_KEY]: "obj", v: [] }), /malformed "obj" tag/);
  });

  it("error names never select arbitrary constructors", () => {
    for (const name of ["constructor", "__proto__", "Function", "toString"]) {
      const err = fromWire({ [TAG_KEY]: "error", v: { name, message: "m" } }) as Error;
      assert.equal(Object.getPrototypeOf(err), Error.prototype);
      assert.equal(err.name, name);
    }
  });

  it("non-JSON input to fromWire is rejected", () => {
    throwsCodec(() => fromWire({ a: () => 0 }), /value\.a is not valid wire data/);
    throwsCodec(() => fromWire([NaN]), /value\[0\] is not valid wire data/);
  });

  it("version errors say which versions are supported", () => {
    throwsCodec(() => decode('{"v":2,"value":1}'), /unsupported codec version 2; supported codec versions: 1/);
    throwsCodec(() => decode('{"v":"1","value":1}'), /unsupported codec version "1"; supported codec versions: 1/);
    throwsCodec(() => decode('{"value":1}'), /no version field "v"; supported codec versions: 1/);
    throwsCodec(() => decode("[1]"), /not a codec envelope.*supported codec versions: 1/);
    throwsCodec(() => decode("1"), /not a codec envelope/);
    throwsCodec(() => decode('{"v":1}'), /no "value" field/);
    throwsCodec(() => decodeEnvelope(null), /not a codec envelope/);
  });

  it("malformed JSON is a CodecError", () => {
    const e = throwsCodec(() => decode('{"v":1,"value":'), /^malformed JSON: /);
    assert.ok(e.cause instanceof SyntaxError);
    throwsCodec(() => decode(""), /^malformed JSON/);
    throwsCodec(() => decode(42 as unknown as string), /expects a string/);
  });
});
