import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { fromWire, toWire } from "../../src/codec/index.ts";
import { relativeSpanStack, relativeStack, relativeWireStacks } from "../../src/codec/stack-paths.ts";

const NBOX = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const B = "/srv/cache/bundles/ab12";

describe("relativeStack", () => {
  it("makes bundle frames relative, in path and file-URL form, with or without a function name", () => {
    const stack = [
      "Error: boom",
      `    at foo (file://${B}/ops.ts:3:9)`,
      `    at ${B}/lib/util.ts:4:1`,
      `    at async Bar.run (${B}/ops.ts:10:2)`,
      `    at new Baz (file://${B}/deep/a%20b.ts:1:1)`,
    ].join("\n");
    assert.equal(
      relativeStack(stack, B),
      ["Error: boom", "    at foo (ops.ts:3:9)", "    at lib/util.ts:4:1", "    at async Bar.run (ops.ts:10:2)", "    at new Baz (deep/a b.ts:1:1)"].join("\n"),
    );
  });

  it("reduces dependencies, nbox's own files and other host files to names that leak no layout", () => {
    const stack = [
      "TypeError: x",
      `    at a (${B}/node_modules/lodash/index.js:1:2)`,
      "    at b (/home/u/.cache/nbox/deps/9f/node_modules/@scope/pkg/dist/x.mjs:5:6)",
      `    at c (${pathToFileURL(join(NBOX, "src/operator/invoke.ts")).href}:32:13)`,
      "    at d (/root/secret dir/lib.ts:5:6)",
      "    at e (/opt/app/node_modules/nbox/src/x.ts:1:1)",
    ].join("\n");
    assert.deepEqual(relativeStack(stack, B).split("\n").slice(1), [
      "    at a (node_modules/lodash/index.js:1:2)",
      "    at b (node_modules/@scope/pkg/dist/x.mjs:5:6)",
      "    at c (<nbox>/src/operator/invoke.ts:32:13)",
      "    at d (<host>/lib.ts:5:6)",
      "    at e (node_modules/nbox/src/x.ts:1:1)",
    ]);
  });

  it("keeps node: built-ins, native and anonymous frames, and handles eval locations", () => {
    const stack = [
      "Error: e",
      "    at node:internal/process/task_queues:95:5",
      "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
      "    at Array.map (<anonymous>)",
      "    at async Promise.all (index 0)",
      `    at eval (eval at f (file://${B}/ops.ts:1:2), <anonymous>:1:1)`,
    ].join("\n");
    const out = relativeStack(stack, B).split("\n");
    assert.deepEqual(out.slice(1, 5), stack.split("\n").slice(1, 5));
    assert.equal(out[5], "    at eval (eval at f (ops.ts:1:2), <anonymous>:1:1)");
  });

  it("drops the bundle folder from other lines (a SyntaxError's file header), not the message words", () => {
    const stack = [`${B}/ops.ts:3`, "  bad syntax", "", "SyntaxError: Unexpected token at /etc/passwd"].join("\n");
    assert.equal(relativeStack(stack, B), ["ops.ts:3", "  bad syntax", "", "SyntaxError: Unexpected token at /etc/passwd"].join("\n"));
  });

  it("knows a symlinked bundle folder by its real path too", () => {
    const dir = mkdtempSync(join(tmpdir(), "nbox-stack-"));
    try {
      mkdirSync(join(dir, "real"));
      symlinkSync(join(dir, "real"), join(dir, "link"));
      const out = relativeStack(`Error: x\n    at f (${join(dir, "real")}/ops.ts:1:1)`, join(dir, "link"));
      assert.equal(out, "Error: x\n    at f (ops.ts:1:1)");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("relativeWireStacks", () => {
  it("rewrites the stack of every error in a wire value: causes, aggregated errors, errors in fields", () => {
    const withStack = (e: Error, where: string) => Object.assign(e, { stack: `${e.name}: ${e.message}\n    at f (${B}/${where}:1:1)` });
    const inner = withStack(new RangeError("inner"), "inner.ts");
    const agg = withStack(new AggregateError([withStack(new Error("one"), "one.ts")], "many"), "agg.ts");
    const top = withStack(new Error("top", { cause: inner }), "top.ts");
    Object.assign(top, { detail: agg });
    Object.defineProperty(top, "__proto__", { value: "kept as a field", enumerable: true, writable: true, configurable: true });
    const wire = toWire(top);
    const before = JSON.stringify(wire);
    const back = fromWire(relativeWireStacks(wire, B)) as Error & { detail: AggregateError };
    assert.equal(JSON.stringify(wire), before, "the input is not changed");
    assert.equal(back.stack, "Error: top\n    at f (top.ts:1:1)");
    assert.equal((back.cause as Error).stack, "RangeError: inner\n    at f (inner.ts:1:1)");
    assert.equal(back.detail.stack, "AggregateError: many\n    at f (agg.ts:1:1)");
    assert.equal(back.detail.errors[0].stack, "Error: one\n    at f (one.ts:1:1)");
    assert.equal(Object.getPrototypeOf(back), Error.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(back, "__proto__")?.value, "kept as a field");
  });

  it("leaves values without errors as they are", () => {
    const wire = toWire({ a: [1, "x", null], m: new Map([[1, new Date(0)]]) });
    assert.deepEqual(relativeWireStacks(wire, B), wire);
  });
});

describe("relativeSpanStack", () => {
  it("rewrites a failed span's error stack in place, and leaves others alone", () => {
    const span = { error: { name: "Error", message: "x", stack: `Error: x\n    at f (${B}/ops.ts:2:3)` } };
    relativeSpanStack(span, B);
    assert.equal(span.error.stack, "Error: x\n    at f (ops.ts:2:3)");
    const ok = {};
    relativeSpanStack(ok, B);
    assert.deepEqual(ok, {});
  });
});
