// A local map is one trace: a `<name>.map` span with one child span per item.
import { test } from "node:test";
import assert from "node:assert/strict";
import { getTracer } from "../../src/index.ts";
import { foo } from "./fixtures/ops.ts";

test("op.map records one map span and each item as its child, in one trace", async () => {
  const before = new Set(getTracer().memory.spans().map((s) => s.spanId));
  assert.deepEqual(await foo.map([1, 2, 3]), [1, 4, 9]);
  const fresh = getTracer().memory.spans().filter((s) => !before.has(s.spanId));
  const mapSpan = fresh.find((s) => s.name === "foo.map");
  assert.ok(mapSpan, "a map span");
  assert.equal(mapSpan!.attributes.items, 3);
  const items = fresh.filter((s) => s.name === "foo");
  assert.equal(items.length, 3);
  for (const s of items) {
    assert.equal(s.parentSpanId, mapSpan!.spanId);
    assert.equal(s.traceId, mapSpan!.traceId);
  }
});
