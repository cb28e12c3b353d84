// A backlog of spans is written a chunk per statement, with other work let in between chunks:
// the embedded store runs each statement on the control plane's thread. A finished run's spans
// that come with its finish ride on it instead.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { ReportWriter } from "../../../src/platform/workers/report.ts";
import type { PlatformContext } from "../../../src/platform/context.ts";
import type { SpanInput } from "../../../src/platform/store/spans-repo.ts";
import { resolveConfig } from "../../../src/platform/config.ts";

const span = (i: number): SpanInput => ({ spanId: i.toString(16).padStart(16, "0"), traceId: "f".repeat(32), parentSpanId: null, op: "inc", name: "Bar.inc", start: i, end: i + 1, status: "ok", servingId: "dep_1", runId: null });

test("a backlog of spans is written in chunks, with other work between them, all in order", async () => {
  const statements: number[][] = [];
  const between: number[] = [];
  let written = 0;
  const store = {
    async insertSpans(batch: SpanInput[]) {
      statements.push(batch.map((s) => s.start));
      written += batch.length;
      return batch.length;
    },
  };
  const writer = new ReportWriter({ store } as unknown as PlatformContext);
  writer.addSpans(Array.from({ length: 250 }, (_, i) => span(i)));
  const flushed = writer.flush();
  // Work queued now (a request arriving) runs before the whole backlog is written.
  setImmediate(() => between.push(written));
  await flushed;
  assert.deepEqual(statements.map((s) => s.length), [100, 100, 50]);
  assert.deepEqual(statements.flat(), Array.from({ length: 250 }, (_, i) => i), "every span once, in order");
  assert.equal(between.length, 1);
  assert.ok(between[0]! < 250, `other work ran before the last chunk (${between[0]} of 250 written then)`);
});

test("a chunk the store refuses is dropped (logged), the rest are still written", async () => {
  let calls = 0;
  const kept: number[] = [];
  const store = {
    async insertSpans(batch: SpanInput[]) {
      if (calls++ === 0) throw new Error("refused");
      kept.push(...batch.map((s) => s.start));
      return batch.length;
    },
  };
  const errors: unknown[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void errors.push(args);
  try {
    const writer = new ReportWriter({ store } as unknown as PlatformContext);
    writer.addSpans(Array.from({ length: 150 }, (_, i) => span(i)));
    await writer.flush();
  } finally {
    console.error = original;
  }
  assert.deepEqual(kept, Array.from({ length: 50 }, (_, i) => 100 + i));
  assert.equal(errors.length, 1);
});

test("a finished run's spans ride on its finish; those of a finish not applied are still kept as rows", async () => {
  const runSpan = (runId: string, i: number) => ({ ...span(i), servingId: null, runId, attributes: {} });
  const finishes: Array<{ id: string; spans?: SpanInput[] }> = [];
  const rows: SpanInput[] = [];
  const store = {
    async finishRuns(items: Array<{ id: string; spans?: SpanInput[] }>) {
      finishes.push(...items);
      // run_done is applied; run_gone was finished meanwhile elsewhere (cancelled, say): not applied.
      return items.filter((it) => it.id === "run_done").map((it) => ({ id: it.id }));
    },
    async getRuns(ids: string[]) {
      return ids.map((id) => ({ id, workerId: "wrk_1", status: "cancelled" }));
    },
    async insertSpans(batch: SpanInput[]) {
      rows.push(...batch);
      return batch.length;
    },
  };
  const ctx = { store, events: new EventEmitter(), config: resolveConfig({ leaseMs: 20_000, maxRunLogBytes: 1 << 20 }), queue: { async enqueue() {} } };
  const writer = new ReportWriter(ctx as unknown as PlatformContext);
  const finished = (id: string) => ({ id, attempt: 1, status: "succeeded" as const, result: null, startedAt: 1, finishedAt: 2 });
  await writer.apply({
    workerId: "wrk_1",
    started: [],
    logs: [],
    spans: [runSpan("run_done", 1), runSpan("run_gone", 2), runSpan("run_done", 3)],
    finished: [finished("run_done"), finished("run_gone")],
    requeued: [],
    servings: [],
    claim: [],
  });
  await writer.flush();
  assert.deepEqual(finishes.find((f) => f.id === "run_done")?.spans?.map((s) => s.start), [1, 3]);
  assert.deepEqual(rows.map((s) => [s.runId, s.start]), [["run_gone", 2]], "the span of the finish not applied became a row");
});
