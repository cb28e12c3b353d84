// Applies a worker's report to the store, always in this order: started marks, log lines, spans,
// finished runs, requeued runs — so a caller that sees a run finished also sees its logs. Waiters
// hear about finished runs with the final fields (no read back). Spans are written a moment later
// in batches (off the result's path); readers of a run's spans flush them first.
import type { z } from "@hono/zod-openapi";
import type { WorkerReport } from "../api/contract/routes-worker.ts";
import type { PlatformContext } from "../context.ts";
import type { SpanInput } from "../store/spans-repo.ts";

const SPAN_FLUSH_MS = 50;

export type Report = z.output<typeof WorkerReport>;

export class ReportWriter {
  private spans: SpanInput[] = [];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly ctx: PlatformContext) {}

  async apply(r: Report): Promise<{ finished: string[]; requeued: string[] }> {
    const { store, events } = this.ctx;
    const workerId = r.workerId;
    // Started marks of runs finishing in this same report are not needed: the finish says when.
    const finishing = new Set(r.finished.map((f) => f.id));
    const started = r.started.filter((s) => !finishing.has(s.id));
    if (started.length) await store.markRunsStarted(workerId, started);
    // Output only about runs this worker holds (or held last): a worker cannot write into others' runs.
    const about = [...new Set([...r.logs.map((l) => l.runId), ...r.spans.flatMap((s) => (s.runId ? [s.runId] : []))])];
    const held = new Set(about.length ? (await store.getRuns(about)).filter((run) => run.workerId === workerId).map((run) => run.id) : []);
    for (const { runId, lines } of r.logs.filter((l) => held.has(l.runId))) {
      await store.appendLogs(runId, lines);
      events.emit("logs", runId);
    }
    const spans = r.spans.filter((s) => (s.runId ? held.has(s.runId) : true));
    if (spans.length) this.addSpans(spans.map((s) => ({ ...s, parentSpanId: s.parentSpanId ?? null, error: s.error ?? null, runId: s.runId ?? null, servingId: s.servingId ?? null }) as SpanInput));
    let finished: string[] = [];
    if (r.finished.length) {
      finished = await store.finishRuns(r.finished.map(({ attempt: _a, ...f }) => ({ ...f, workerId })));
      const applied = new Set(finished);
      for (const f of r.finished) {
        const final = applied.has(f.id)
          ? { status: f.status, result: f.result ?? null, error: f.error ?? null, attempt: f.attempt, startedAt: f.startedAt ?? null, finishedAt: f.finishedAt ?? Date.now() }
          : undefined;
        events.emit("finished", f.id, final);
      }
    }
    const requeued: string[] = [];
    for (const q of r.requeued) {
      if (await store.requeueForRetry(q.id, { ...q, workerId })) requeued.push(q.id);
      // Not requeued because a cancel was asked meanwhile: the run ends here as cancelled.
      else if (await store.finishRun(q.id, { status: "cancelled", error: q.error, workerId })) events.emit("finished", q.id);
    }
    if (requeued.length) events.emit("queued", "");
    return { finished, requeued };
  }

  /** Spans waiting to be written (serving spans come this way too). */
  addSpans(spans: SpanInput[]): void {
    this.spans.push(...spans);
    this.timer ??= setTimeout(() => void this.flush(), SPAN_FLUSH_MS);
  }

  /** Write buffered spans now (after any write under way). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.spans;
    this.spans = [];
    if (batch.length === 0) return this.chain;
    this.chain = this.chain.then(() =>
      this.ctx.store.insertSpans(batch).then(
        () => undefined,
        (err) => console.error("[nbox] could not store spans:", err),
      ),
    );
    return this.chain;
  }
}
