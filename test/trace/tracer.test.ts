import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Operator, getTracer, operator, type Span } from "../../src/index.ts";
import { MemorySink, Tracer, formatTraceParent } from "../../src/trace/index.ts";
import { nowMs } from "../../src/trace/clock.ts";
import { Doubler, MyOperator, Parallel } from "../operator/fixtures/ops.ts";

/** Spans pushed while `fn` runs (a sink on the process tracer). */
async function capture(fn: () => Promise<unknown> | unknown): Promise<Span[]> {
  const spans: Span[] = [];
  const remove = getTracer().addSink({ push: (s) => spans.push(s) });
  try {
    await fn();
  } finally {
    remove();
  }
  return spans;
}

const byOp = (spans: Span[]) => new Map(spans.map((s) => [s.op, s]));
const tick = (ms = 1) => new Promise((r) => setTimeout(r, ms));

class Inner extends Operator {
  async forward(x: number) {
    await tick();
    return x + 1;
  }
}
class Middle extends Operator {
  inner = new Inner();
  async forward(x: number) {
    return (await this.inner(x)) * 2;
  }
}
class Root extends Operator {
  b = new Middle();
  c = new Inner();
  async forward(x: number) {
    const [y, z] = await Promise.all([this.b(x), this.c(x)]);
    return y + z;
  }
}

describe("tracing: spans follow the call tree", () => {
  it("every call is a span; nested calls are children with dotted op paths", async () => {
    const job = new MyOperator(1, 3);
    const spans = await capture(() => job(2));
    assert.equal(spans.length, 2);
    const ops = byOp(spans);
    const root = ops.get("MyOperator")!;
    const b = ops.get("b")!;
    assert.ok(root && b, `ops: ${[...ops.keys()]}`);
    assert.equal(root.parentSpanId, null);
    assert.equal(root.name, "MyOperator");
    assert.equal(b.parentSpanId, root.spanId);
    assert.equal(b.traceId, root.traceId);
    assert.equal(b.name, "Doubler");
    assert.match(root.traceId, /^[0-9a-f]{32}$/);
    assert.match(root.spanId, /^[0-9a-f]{16}$/);
    assert.ok(b.start >= root.start && b.end <= root.end);
    // Children end first.
    assert.deepEqual(
      spans.map((s) => s.op),
      ["b", "MyOperator"],
    );
  });

  it("concurrent children under Promise.all nest correctly, two levels deep", async () => {
    const r = new Root();
    // Two root calls at once: their spans must not mix.
    let spans: Span[] = [];
    spans = await capture(() => Promise.all([r(1), r(10)]));
    assert.equal(spans.length, 8);
    const roots = spans.filter((s) => s.op === "Root");
    assert.equal(roots.length, 2);
    assert.notEqual(roots[0]!.traceId, roots[1]!.traceId);
    for (const root of roots) {
      const mine = spans.filter((s) => s.traceId === root.traceId);
      const ops = byOp(mine);
      assert.deepEqual([...ops.keys()].sort(), ["Root", "b", "b.inner", "c"]);
      assert.equal(ops.get("b")!.parentSpanId, root.spanId);
      assert.equal(ops.get("c")!.parentSpanId, root.spanId);
      assert.equal(ops.get("b.inner")!.parentSpanId, ops.get("b")!.spanId);
      assert.equal(ops.get("b.inner")!.name, "Inner");
      assert.equal(new Set(mine.map((s) => s.spanId)).size, 4);
    }
  });

  it("arrays of children get indexed paths (layers.0)", async () => {
    const p = new Parallel();
    const spans = await capture(() => p(1));
    const ops = byOp(spans);
    assert.deepEqual([...ops.keys()].sort(), ["Parallel", "layers.0", "layers.1", "left", "right"]);
    const root = ops.get("Parallel")!;
    for (const k of ["left", "right", "layers.0", "layers.1"]) assert.equal(ops.get(k)!.parentSpanId, root.spanId, k);
  });

  it("an operator that is not a child still nests its span under the caller", async () => {
    const helper = operator(function helper(x: number) {
      return x;
    });
    class UsesGlobal extends Operator {
      async forward(x: number) {
        return helper(x);
      }
    }
    const spans = await capture(() => new UsesGlobal()(1));
    const ops = byOp(spans);
    assert.equal(ops.get("helper")!.parentSpanId, ops.get("UsesGlobal")!.spanId);
  });

  it("a child called directly (outside its parent) is a root span", async () => {
    const m = new Middle();
    const spans = await capture(() => m.inner(1));
    assert.equal(spans.length, 1);
    assert.equal(spans[0]!.parentSpanId, null);
    assert.equal(spans[0]!.op, "Inner");
  });

  it("a failing child marks its span and its parent's as error", async () => {
    class Boom extends Operator {
      forward(): number {
        throw new RangeError("child failed");
      }
    }
    class Parent extends Operator {
      boom = new Boom();
      async forward() {
        return this.boom();
      }
    }
    const spans = await capture(() => new Parent()().catch(() => {}));
    const ops = byOp(spans);
    assert.equal(ops.get("boom")!.status, "error");
    assert.deepEqual(
      { name: ops.get("boom")!.error!.name, message: ops.get("boom")!.error!.message },
      { name: "RangeError", message: "child failed" },
    );
    assert.equal(ops.get("Parent")!.status, "error");
  });
});

describe("tracing: withSpan", () => {
  it("sync: returns the value, records an ok span, nests under the current span", async () => {
    const t = getTracer();
    let innerParent: string | null | undefined;
    const spans = await capture(() =>
      t.withSpan("outer", (outer) => {
        const v = t.withSpan("inner", (inner) => {
          innerParent = inner.parentSpanId;
          inner.attributes.n = 1;
          return 5;
        });
        assert.equal(innerParent, outer.spanId);
        return v * 2;
      }),
    );
    const ops = byOp(spans);
    assert.equal(ops.get("outer")!.status, "ok");
    assert.equal(ops.get("inner")!.parentSpanId, ops.get("outer")!.spanId);
    assert.deepEqual(ops.get("inner")!.attributes, { n: 1 });
    assert.equal(
      t.withSpan("x", () => 7),
      7,
    );
  });

  it("async: the span ends when the promise settles", async () => {
    const t = getTracer();
    let resolvedAt = 0;
    const spans = await capture(async () => {
      const v = await t.withSpan("download", async (span) => {
        await tick(5);
        span.attributes.bytes = 10;
        resolvedAt = nowMs();
        return "done";
      });
      assert.equal(v, "done");
    });
    assert.equal(spans.length, 1);
    assert.equal(spans[0]!.status, "ok");
    assert.equal(spans[0]!.attributes.bytes, 10);
    assert.ok(spans[0]!.end >= resolvedAt, "ended after the body finished");
  });

  it("throwing (sync and async): rethrows the same error and records it", async () => {
    const t = getTracer();
    const syncErr = new TypeError("sync");
    const asyncErr = new SyntaxError("async");
    const spans = await capture(async () => {
      assert.throws(
        () =>
          t.withSpan("s", () => {
            throw syncErr;
          }),
        (e: unknown) => e === syncErr,
      );
      await assert.rejects(
        t.withSpan("a", async () => {
          await tick();
          throw asyncErr;
        }),
        (e: unknown) => e === asyncErr,
      );
    });
    const ops = byOp(spans);
    assert.equal(ops.get("s")!.status, "error");
    assert.equal(ops.get("s")!.error!.name, "TypeError");
    assert.equal(ops.get("a")!.status, "error");
    assert.equal(ops.get("a")!.error!.message, "async");
  });

  it("an operator child called inside a custom span keeps its dotted path and the custom span as parent", async () => {
    class Custom extends Operator {
      b = new Doubler();
      async forward(x: number) {
        return getTracer().withSpan("prep", () => this.b(x));
      }
    }
    const c = new Custom();
    const spans = await capture(() => c(2));
    const ops = byOp(spans);
    assert.deepEqual([...ops.keys()].sort(), ["Custom", "b", "prep"]);
    assert.equal(ops.get("prep")!.parentSpanId, ops.get("Custom")!.spanId);
    assert.equal(ops.get("b")!.parentSpanId, ops.get("prep")!.spanId);
    assert.deepEqual(
      c.getDag().edges.map(({ from, to, count }) => ({ from, to, count })),
      [{ from: "Custom", to: "b", count: 1 }],
    );
  });

  it("explicit parent option overrides the current span", () => {
    const t = new Tracer();
    const parent = { traceId: "a".repeat(32), spanId: "b".repeat(16), sampled: true };
    t.withSpan("x", (span) => {
      assert.equal(span.traceId, parent.traceId);
      assert.equal(span.parentSpanId, parent.spanId);
    }, { parent });
    t.withSpan("y", (span) => assert.equal(span.parentSpanId, null), { parent: null });
  });

  it("traceparent() describes the current span and is undefined outside one", () => {
    const t = new Tracer();
    assert.equal(t.traceparent(), undefined);
    t.withSpan("x", (span) => {
      assert.equal(t.traceparent(), formatTraceParent({ traceId: span.traceId, spanId: span.spanId, sampled: true }));
    });
  });
});

describe("tracing: process parent", () => {
  it("setProcessParent makes root spans children of the remote parent; null clears it", async () => {
    const t = getTracer();
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const spanId = "00f067aa0ba902b7";
    let spans: Span[];
    try {
      t.setProcessParent(`00-${traceId}-${spanId}-01`);
      spans = await capture(() => new MyOperator(1, 2)(1));
    } finally {
      t.setProcessParent(null);
    }
    const ops = byOp(spans);
    assert.equal(ops.get("MyOperator")!.traceId, traceId);
    assert.equal(ops.get("MyOperator")!.parentSpanId, spanId);
    assert.equal(ops.get("b")!.traceId, traceId);
    assert.equal(ops.get("b")!.parentSpanId, ops.get("MyOperator")!.spanId);
    const after = await capture(() => new Doubler()(1));
    assert.equal(after[0]!.parentSpanId, null);
    assert.notEqual(after[0]!.traceId, traceId);
  });

  it("accepts a parsed TraceParent and ignores a malformed header", async () => {
    const t = getTracer();
    try {
      t.setProcessParent({ traceId: "c".repeat(32), spanId: "d".repeat(16), sampled: true });
      const [s] = await capture(() => new Doubler()(1));
      assert.equal(s!.parentSpanId, "d".repeat(16));
      t.setProcessParent("not a header");
      const [s2] = await capture(() => new Doubler()(1));
      assert.equal(s2!.parentSpanId, null);
    } finally {
      t.setProcessParent(null);
    }
  });
});

describe("tracing: sinks", () => {
  const span = (i: number): Span => ({
    traceId: "t",
    spanId: String(i),
    parentSpanId: null,
    op: `op${i}`,
    name: "n",
    start: i,
    end: i,
    status: "ok",
    attributes: {},
  });

  it("MemorySink is a bounded ring: capacity respected, oldest dropped, oldest first", () => {
    const sink = new MemorySink(3);
    assert.deepEqual(sink.spans(), []);
    sink.push(span(1));
    sink.push(span(2));
    assert.deepEqual(
      sink.spans().map((s) => s.spanId),
      ["1", "2"],
    );
    for (let i = 3; i <= 10; i++) sink.push(span(i));
    assert.deepEqual(
      sink.spans().map((s) => s.spanId),
      ["8", "9", "10"],
    );
    sink.clear();
    assert.deepEqual(sink.spans(), []);
    sink.push(span(11));
    assert.deepEqual(
      sink.spans().map((s) => s.spanId),
      ["11"],
    );
  });

  it("MemorySink of capacity 1 keeps the newest; capacity 0 is refused", () => {
    const one = new MemorySink(1);
    one.push(span(1));
    one.push(span(2));
    assert.deepEqual(
      one.spans().map((s) => s.spanId),
      ["2"],
    );
    assert.throws(() => new MemorySink(0), RangeError);
  });

  it("the process tracer's memory ring is bounded and spansOf filters by trace", async () => {
    const t = getTracer();
    assert.ok(t.memory.capacity > 0);
    const before = t.memory.spans().length;
    assert.ok(before <= t.memory.capacity);
    const spans = await capture(() => new MyOperator(1, 2)(1));
    const traceId = spans[0]!.traceId;
    assert.deepEqual(
      t.spansOf(traceId).map((s) => s.op),
      ["b", "MyOperator"],
    );
  });

  it("a throwing sink never fails the traced call; removing a sink stops delivery", async () => {
    const t = getTracer();
    const remove = t.addSink({
      push() {
        throw new Error("disk full");
      },
    });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    try {
      assert.equal(await new Doubler()(2), 4);
      assert.equal(await new Doubler()(3), 6);
      await tick();
    } finally {
      remove();
      process.off("warning", onWarning);
    }
    assert.equal(warnings.filter((w) => /disk full/.test(w)).length, 1, "warned once");
    let seen = 0;
    const remove2 = t.addSink({ push: () => seen++ });
    remove2();
    await new Doubler()(1);
    assert.equal(seen, 0);
  });
});
