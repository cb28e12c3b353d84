import assert from "node:assert/strict";
import { test } from "node:test";
import { LineSplitter } from "../../../src/worker/jobs/index.ts";

function split(chunks: string[], max?: number): string[] {
  const out: string[] = [];
  const s = new LineSplitter((l) => out.push(l), max);
  for (const c of chunks) s.push(c);
  s.end();
  return out;
}

test("lines are split on \\n across chunk boundaries, partial line kept until the end", () => {
  assert.deepEqual(split(["a", "b\nc", "d\n\ne"]), ["ab", "cd", "", "e"]);
  assert.deepEqual(split(["x\r\n", "y\n"]), ["x", "y"]);
  assert.deepEqual(split([]), []);
});

test("an over-long line keeps its head and tail and says how much was dropped", () => {
  const long = "h".repeat(100) + "m".repeat(5000) + "t".repeat(10);
  const [line, next] = split([long.slice(0, 3000), long.slice(3000) + "\nnext\n"], 100);
  assert.equal(next, "next");
  assert.ok(line!.startsWith("h".repeat(100) + " …["));
  assert.ok(line!.endsWith("m".repeat(502) + "t".repeat(10)));
  assert.match(line!, /\[4498 chars truncated\]/);
});
