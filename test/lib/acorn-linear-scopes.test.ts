// The parser nbox uses (acorn with name lists that answer from a Set) gives acorn's own answers,
// and checks a scope's names without scanning them: n declarations cost n lookups, not n².
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import type * as Acorn from "acorn";
import { parse } from "../../src/lib/lazy-acorn.ts";

const acorn = createRequire(import.meta.url)("acorn") as typeof Acorn;

const outcome = (p: typeof parse, text: string, sourceType: "module" | "script") => {
  try {
    return JSON.stringify(p(text, { ecmaVersion: "latest", sourceType }));
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
};

describe("acorn with linear scopes", () => {
  const programs = [
    "let x; let x;",
    "let y; var y;",
    "var z; let z;",
    "var w; var w; function w() {}",
    "function g() {} let g;",
    "{ function h() {} function h() {} }",
    "export { nope };",
    "let a; export { a };",
    "try {} catch (e) { var e; }",
    "try {} catch (e) { let e; }",
    "try {} catch ([e]) { var e; }",
    "function f(a) { let a; }",
    "for (let i;;) { var i; }",
    "class C { #p; m() { return this.#p; } }",
    "switch (1) { case 1: let q; break; case 2: let q; }",
  ];
  for (const sourceType of ["module", "script"] as const) {
    it(`answers as acorn does, for each program as a ${sourceType}`, () => {
      for (const text of programs) assert.equal(outcome(parse, text, sourceType), outcome(acorn.parse, text, sourceType), text);
    });
  }

  it("checks n declarations without scanning the names declared before each", () => {
    const n = 5_000;
    const text = `let ${Array.from({ length: n }, (_, i) => `a${i}`).join(", ")};\nfunction f() { ${Array.from({ length: n }, (_, i) => `var b${i};`).join(" ")} }\nexport { a1 };`;
    // Count the elements every Array#indexOf call is handed: plain acorn hands it ~n²/2 of them.
    const indexOf = Array.prototype.indexOf;
    let scanned = 0;
    Array.prototype.indexOf = function (this: unknown[], ...args: Parameters<typeof indexOf>) {
      scanned += this.length;
      return indexOf.apply(this, args);
    };
    try {
      parse(text, { ecmaVersion: "latest", sourceType: "module" });
    } finally {
      Array.prototype.indexOf = indexOf;
    }
    assert.ok(scanned < 10 * n, `scanned ${scanned} names for ${2 * n} declarations`);
  });
});
