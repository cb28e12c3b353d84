// Parameters read from a function's source: what the arity check and /openapi.json rest on.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { signatureOf } from "../../src/operator/signature.ts";

class Notes {
  #notes: string[] = [];
  static #made = 0;
  add(title: string, body?: string) {
    Notes.#made++;
    this.#notes.push(body === undefined ? title : `${title}: ${body}`);
    return this.#count();
  }
  #count(prefix = "#") {
    return `${prefix}${this.#notes.length}`;
  }
  async *tail(n: number, ...rest: unknown[]) {
    yield* this.#notes.slice(-n, rest.length || undefined);
  }
  colour(a = "#fff") {
    return a;
  }
}

const shape = (fn: Function) => {
  const s = signatureOf(fn);
  return { names: s.params.map((p) => (p.optional ? `${p.name}?` : p.name)), min: s.minArgs, max: s.maxArgs };
};

describe("signatureOf", () => {
  it("reads methods that use the class's private fields and methods (they were read as taking anything)", () => {
    // (`body?` is TypeScript's: compiled, the source says `add(title, body)`; deploy adds the `?` from the types.)
    assert.deepEqual(shape(Notes.prototype.add), { names: ["title", "body"], min: 2, max: 2 });
    assert.deepEqual(shape(Notes.prototype.tail), { names: ["n", "rest?"], min: 1, max: Infinity });
    assert.deepEqual(shape(Notes.prototype.colour), { names: ["a?"], min: 0, max: 1 });
  });

  it("plain functions, arrows and object methods as before; native code has no limit", () => {
    assert.deepEqual(shape(function foo(i = 4) { return i; }), { names: ["i?"], min: 0, max: 1 });
    assert.deepEqual(shape((a: number, b: number) => a + b), { names: ["a", "b"], min: 2, max: 2 });
    assert.deepEqual(shape({ m(x: unknown) { return x; } }.m), { names: ["x"], min: 1, max: 1 });
    assert.equal(signatureOf(Math.max).maxArgs, Infinity);
  });
});
