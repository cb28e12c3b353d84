// The plain JSON projection: what a non-SDK caller receives for each rich value.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CodecError, toPlain } from "../../src/codec/index.ts";

describe("toPlain", () => {
  it("leaves JSON as it is and turns rich values into their plain form", () => {
    assert.deepEqual(toPlain({ a: 1, b: "x", c: [true, null], d: { e: [] } }), { a: 1, b: "x", c: [true, null], d: { e: [] } });
    assert.equal(toPlain(new Date("2024-01-02T03:04:05.678Z")), "2024-01-02T03:04:05.678Z");
    assert.equal(toPlain(new Date(NaN)), null);
    assert.deepEqual(toPlain(new Set([1, "a"])), [1, "a"]);
    assert.deepEqual(toPlain(new Map<string, unknown>([["a", 1], ["b", new Set([2])]])), { a: 1, b: [2] });
    assert.deepEqual(toPlain(new Map<unknown, unknown>([[1, "x"], ["k", "y"]])), [[1, "x"], ["k", "y"]]);
    assert.deepEqual(toPlain(new Map([[new Date(0), 1]])), [["1970-01-01T00:00:00.000Z", 1]]);
    assert.deepEqual(toPlain(new Map()), {});
    assert.equal(toPlain(-(2n ** 70n)), "-1180591620717411303424");
    assert.equal(toPlain(new Uint8Array([0, 255])), "AP8=");
    assert.equal(toPlain(Buffer.from("hi")), "aGk=");
    assert.equal(toPlain(new Uint8Array([9, 1, 2, 3]).subarray(1)), "AQID", "a view is encoded by its own window");
    assert.deepEqual(toPlain(new TypeError("nope")), { name: "TypeError", message: "nope" });
    assert.deepEqual(toPlain(Object.assign(new Error("x"), { code: "E" })), { name: "Error", message: "x" });
    class Point {
      constructor(
        public x: number,
        public y?: number,
      ) {}
      get len() {
        return 1;
      }
    }
    assert.deepEqual(toPlain(new Point(1)), { x: 1 }, "own fields, undefined left out, no getters");
  });

  it("undefined: left out of objects, null in arrays, undefined at the root; NaN/Infinity null; -0 is 0", () => {
    assert.deepEqual(toPlain({ a: undefined, b: 1 }), { b: 1 });
    assert.deepEqual(toPlain([undefined, 1]), [null, 1]);
    assert.deepEqual(toPlain(new Map([["a", undefined]])), {});
    assert.deepEqual(toPlain(new Set([undefined])), [null]);
    assert.equal(toPlain(undefined), undefined);
    assert.deepEqual(toPlain([NaN, Infinity, -Infinity, -0]), [null, null, null, 0]);
    assert.ok(Object.is(toPlain(-0), 0));
    assert.deepEqual(toPlain([NaN, -Infinity], { keepNonFinite: true }), [NaN, -Infinity], "kept as numbers for schema checks");
  });

  it("a user object with the codec's tag key is plain data (never a tag)", () => {
    assert.deepEqual(toPlain({ $nbx: "undef" }), { $nbx: "undef" });
    const proto = toPlain(JSON.parse('{"__proto__": {"polluted": 1}}')) as Record<string, unknown>;
    assert.ok(Object.hasOwn(proto, "__proto__"));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it("what JSON cannot carry fails with a CodecError naming where", () => {
    assert.throws(() => toPlain({ a: [() => 1] }, { path: "result" }), (e: unknown) => e instanceof CodecError && e.path === "result.a[0]" && /function/.test(e.message));
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(() => toPlain(cyclic), (e: unknown) => e instanceof CodecError && /circular/.test(e.message));
    assert.throws(() => toPlain(/x/), (e: unknown) => e instanceof CodecError && /RegExp/.test(e.message));
    assert.throws(() => toPlain(new Float32Array(1)), (e: unknown) => e instanceof CodecError && /Float32Array/.test(e.message));
    assert.throws(() => toPlain(Symbol("s")), CodecError);
    // A shared (non-cyclic) reference is fine.
    const shared = { n: 1 };
    assert.deepEqual(toPlain([shared, shared]), [{ n: 1 }, { n: 1 }]);
  });
});
