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

test("concurrent async calls each end their own span, with their own outcome and duration", async () => {
  const { operator } = await import("../../src/index.ts");
  // Items settle in the reverse of their start order, half of them failing: every span must
  // still be ended once, by its own call, with that call's status and a duration of its own wait.
  const waits = [60, 40, 20, 0];
  const spanOf: string[] = [];
  const slow = operator(async function slowItem(i: number) {
    spanOf[i] = getTracer().currentSpan()!.spanId;
    await new Promise((resolve) => setTimeout(resolve, waits[i]));
    if (i % 2 === 1) throw new Error(`item ${i} failed`);
    return i;
  });
  const before = new Set(getTracer().memory.spans().map((s) => s.spanId));
  const settled = await slow.map([0, 1, 2, 3], { settle: true });
  assert.deepEqual(settled.map((r) => r.ok), [true, false, true, false]);
  const spans = getTracer().memory.spans().filter((s) => !before.has(s.spanId) && s.name === "slowItem");
  assert.equal(spans.length, 4, "one span per item, none ended twice");
  const byItem = waits.map((_, i) => spans.find((s) => s.spanId === spanOf[i])!);
  byItem.forEach((s, i) => {
    assert.equal(s.status, i % 2 === 1 ? "error" : "ok", `item ${i}'s status`);
    if (i % 2 === 1) assert.equal(s.error?.message, `item ${i} failed`);
    assert.ok(s.end - s.start >= waits[i]! - 5, `item ${i} lasted its own wait (${s.end - s.start} ms ≥ ${waits[i]})`);
  });
  const ends = byItem.map((s) => s.end);
  assert.ok(ends[0]! > ends[3]!, "the first-started item ended last");
});
