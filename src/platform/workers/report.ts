// Applies a worker's report to the store, always in this order: started marks, log lines, spans,
// finished runs, requeued runs, claims of runs the queue delivered — so a caller that sees a run
// finished also sees its logs, and a worker's finish and its next claim cost one request. Waiters
// hear about finished runs with the final fields but args (no read back; an answer that shows args
// reads them, one statement per answer). Spans are written a moment later in batches (off the
// result's path); readers of a run's spans flush them first.
import type { z } from "@hono/zod-openapi";
import type { WorkerReport } from "../../contract/routes-worker.ts";
import type { PlatformContext } from "../context.ts";
import type { FinishRunInput } from "../store/runs-repo.ts";
import type { SpanInput } from "../store/spans-repo.ts";
import type { RunRow } from "../store/schema.ts";
import { isStoreUnavailable, passOverUnlessUnavailable as passOver } from "../store/unavailable.ts";
import { nextTurn } from "../../lib/pause.ts";

const SPAN_FLUSH_MS = 50;
/**
 * A finished run's spans that came in the same report, up to this many, are kept in its row by the
 * finish's own statement (no `spans` row each: the span of a small run cost about as much as the rest
 * of its writes); a run with more has them as rows, so reading runs never carries a large tree along.
 */
const SPANS_KEPT_WITH_FINISH = 16;
/** …per call of a batched run, up to this many in all. */
const MOST_SPANS_KEPT_WITH_FINISH = 4_096;
/** Spans per statement (about 2 ms of the embedded store's time each). */
const SPAN_CHUNK = 100;
/**
 * Spans waiting to be written, at most (about a second of the embedded store's time). User code ends
 * spans far faster than a store writes them (a loop in a job ended 600,000 a second, and the control
 * plane held gigabytes of them waiting): past this, spans are dropped, and the drop is logged.
 */
const MAX_PENDING_SPANS = 50_000;
const DROP_LOG_MS = 10_000;
/** Runs whose span count is followed at once; past this the counts start over (never more memory). */
const MAX_COUNTED_RUNS = 100_000;

export type Report = z.output<typeof WorkerReport>;
type FinishInput = FinishRunInput & { id: string };
type ReportedSpan = NonNullable<Report["spans"][number]>;

export class ReportWriter {
  private spans: SpanInput[] = [];
  /** Spans buffered or being written. */
  private pending = 0;
  private dropped = 0;
  private droppedLoggedAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  /** Spans taken so far from each run's current attempt, against its budget (`maxRunSpans`). */
  private readonly spansOfRun = new Map<string, number>();

  constructor(private readonly ctx: PlatformContext) {}

  async apply(r: Report): Promise<{ finished: string[]; requeued: string[]; claimed: RunRow[]; held: string[] }> {
    const { store, events } = this.ctx;
    const workerId = r.workerId;
    const alone = applyAlone(workerId);
    // A span the contract could not read came as null. A span belongs to a run or to a serving: the
    // worker names one, so one naming both is user code's doing, and either check alone would let
    // it into the other.
    const reported = r.spans.filter((s): s is ReportedSpan => s !== null && !(s.runId && s.servingId));
    // Started marks of runs finishing in this same report are not needed: the finish says when.
    const finishing = new Set(r.finished.map((f) => f.id));
    const started = r.started.filter((s) => !finishing.has(s.id));
    await alone.each(started, "started mark", async (some) => void (await store.markRunsStarted(workerId, some)));
    // Log lines only go into runs this worker holds (or held last): checked by the statement that
    // writes them, which also skips the lines of a report sent again by their numbers.
    await alone.one(r.logs, "log lines", async ({ runId, first, lines }) => {
      if (await store.appendLogs(runId, lines, { heldBy: workerId, maxBytes: this.ctx.config.maxRunLogBytes, firstLineNo: first })) events.emit("logs", runId);
    });
    const withFinish = spansWithFinish(r.finished, reported);
    const finishes = r.finished.map((f): FinishInput => ({ ...f, workerId, ...(withFinish.has(f.id) ? { spans: withFinish.get(f.id) } : {}) }));
    const finishedRows = await alone.each(finishes, "finish", (some) => store.finishRuns(some));
    const finished = finishedRows.map((row) => row.id);
    // Spans kept with an applied finish are stored; those of a finish not applied go the usual way.
    const kept = new Set(finished.filter((id) => withFinish.has(id)));
    const spans = kept.size ? reported.filter((s) => !(s.runId && kept.has(s.runId))) : reported;
    // A hand-back of many runs held ahead is one statement, like a batch of finishes.
    const answered = new Set<string>();
    const requeuedRows = await alone.each(r.requeued, "requeue", async (some) => {
      const rows = await store.requeueRuns(some.map((q) => ({ ...q, workerId })));
      for (const q of some) answered.add(q.id);
      return rows;
    });
    const back = new Set(requeuedRows.map((row) => row.id));
    // Not requeued because a cancel was asked meanwhile: the run ends here as cancelled. (One whose
    // statement failed was skipped: it lapses back to the queue, it is not cancelled.)
    const notBack = r.requeued.filter((q) => answered.has(q.id) && !back.has(q.id));
    const cancelledRows = await alone.each(
      notBack.map((q): FinishInput => ({ id: q.id, status: "cancelled", error: q.error, workerId })),
      "cancel",
      (some) => store.finishRuns(some),
    );
    const cancelled = cancelledRows.map((row) => row.id);
    const requeued = requeuedRows.map((row) => row.id);
    // Before anyone hears of a finish, so a reader of the run's spans finds them (readers flush first).
    // Spans are diagnostics: ones that cannot be taken are dropped (logged), never the report.
    await this.takeSpans(workerId, spans, [...finished, ...requeued, ...cancelled]).catch((err: unknown) =>
      passOver(err, `${spans.length} span(s) from worker ${workerId} could not be taken and were dropped`),
    );
    // Waiters get the finished row with the wake-up: no read back. (A finish not applied — the
    // run was cancelled or taken back meanwhile — still wakes them, to read what the run is now.)
    const applied = new Map(finishedRows.map((row) => [row.id, row]));
    for (const f of r.finished) events.emit("finished", f.id, applied.get(f.id));
    for (const row of cancelledRows) events.emit("finished", row.id, row);
    // Into the queue again: for BullMQ a no-op while the run's job is still there (its worker is
    // about to hand it back), and the job it needs if the job went away meanwhile.
    if (requeuedRows.length) await this.ctx.queue.enqueue(requeuedRows);
    return { finished, requeued, ...(await this.claim(workerId, r.claim).catch((err: unknown) => claimsLater(err, r.claim))) };
  }

  /**
   * Delivered runs become this worker's. A run it claimed and has not started is handed to it again
   * (a claim whose answer was lost orphans nothing); one still running elsewhere is named `held`:
   * the queue gave up on a holder that may yet finish it, so its job must not end.
   */
  private async claim(workerId: string, runIds: string[]): Promise<{ claimed: RunRow[]; held: string[] }> {
    if (runIds.length === 0) return { claimed: [], held: [] };
    const claimed = await this.ctx.store.claimRuns(runIds, workerId, { leaseMs: this.ctx.config.leaseMs });
    const got = new Set(claimed.map((row) => row.id));
    const rest = runIds.filter((id) => !got.has(id));
    const held = rest.length ? (await this.ctx.store.getRuns(rest)).filter((row) => row.status === "running").map((row) => row.id) : [];
    return { claimed, held };
  }

  /**
   * A worker's spans, kept only for runs it holds (or held last) and servings placed on it.
   * `settled`: runs whose finish or requeue by this worker was just applied (held, no need to look).
   */
  private async takeSpans(workerId: string, spans: ReportedSpan[], settled: string[]): Promise<void> {
    try {
      if (spans.length) await this.takeHeldSpans(workerId, spans, settled);
    } finally {
      // A settled run's next attempt (after a requeue) starts with a new budget.
      if (this.spansOfRun.size) for (const id of settled) this.spansOfRun.delete(id);
    }
  }

  private async takeHeldSpans(workerId: string, spans: ReportedSpan[], settled: string[]): Promise<void> {
    const held = new Set(settled);
    const runIds = [...new Set(spans.flatMap((s) => (s.runId && !held.has(s.runId) ? [s.runId] : [])))];
    if (runIds.length) for (const run of await this.ctx.store.getRuns(runIds)) if (run.workerId === workerId) held.add(run.id);
    const servingIds = [...new Set(spans.flatMap((s) => (s.servingId ? [s.servingId] : [])))];
    const hosted = new Set(servingIds.length ? await this.ctx.store.servingsOn(workerId) : []);
    const kept = spans.filter((s) => (s.runId ? held.has(s.runId) : s.servingId ? hosted.has(s.servingId) : false));
    const within = await this.withinRunBudgets(kept);
    if (within.length) this.addSpans(within.map(asSpanInput));
  }

  /**
   * The spans a run may still keep. Like its log, a run's trace has a limit: a loop ending spans in a
   * job would otherwise fill the store for as long as it runs. The run's log says once that the
   * limit was reached.
   */
  private async withinRunBudgets(spans: ReportedSpan[]): Promise<ReportedSpan[]> {
    const max = this.ctx.config.maxRunSpans;
    if (this.spansOfRun.size > MAX_COUNTED_RUNS) this.spansOfRun.clear();
    const reached: string[] = [];
    const within = spans.filter((s) => {
      if (!s.runId) return true;
      const n = this.spansOfRun.get(s.runId) ?? 0;
      this.spansOfRun.set(s.runId, n + 1);
      if (n === max) reached.push(s.runId);
      return n < max;
    });
    for (const runId of reached) {
      const line = `[nbox] this run reached its limit of ${max} spans: further spans are dropped (nbx up --max-run-spans)`;
      await this.ctx.store
        .appendLogs(runId, [{ stream: "system", line }], { maxBytes: this.ctx.config.maxRunLogBytes })
        .then((r) => r && this.ctx.events.emit("logs", runId), (err: unknown) => passOver(err, `the span limit note of run ${runId} could not be written`));
    }
    return within;
  }

  /** Spans waiting to be written (serving spans come this way too); beyond MAX_PENDING_SPANS, dropped. */
  addSpans(spans: SpanInput[]): void {
    const room = MAX_PENDING_SPANS - this.pending;
    if (spans.length > room) {
      this.drop(spans.length - Math.max(0, room));
      if (room <= 0) return;
      spans = spans.slice(0, room);
    }
    this.pending += spans.length;
    this.spans.push(...spans);
    this.timer ??= setTimeout(() => void this.flush(), SPAN_FLUSH_MS);
  }

  private drop(n: number): void {
    this.dropped += n;
    const now = Date.now();
    if (now - this.droppedLoggedAt < DROP_LOG_MS) return;
    this.droppedLoggedAt = now;
    console.error(`[nbox] ${this.dropped} span(s) dropped: ${MAX_PENDING_SPANS} were waiting to be written already (user code ending spans faster than the store takes them)`);
    this.dropped = 0;
  }

  /** Write buffered spans now (after any write under way). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.spans;
    this.spans = [];
    if (batch.length === 0) return this.chain;
    this.chain = this.chain.then(() => this.write(batch));
    return this.chain;
  }

  /**
   * A few spans per statement, other statements between them: the store runs one statement at a
   * time (the embedded one on its single thread), and a backlog of thousands of spans written at
   * once (after a burst of serving calls) held every claim and finish behind it for tens of ms.
   */
  private async write(batch: SpanInput[]): Promise<void> {
    for (let i = 0; i < batch.length; i += SPAN_CHUNK) {
      if (i > 0) await nextTurn();
      const chunk = batch.slice(i, i + SPAN_CHUNK);
      await this.ctx.store.insertSpans(chunk).catch((err: unknown) => console.error("[nbox] could not store spans:", err));
      this.pending -= chunk.length;
    }
  }
}

/**
 * A statement a report's part fails with for a reason other than an unreachable store (a bug, data
 * the store refuses) must not fail the whole report: the worker would send it again forever, holding
 * back everything it reports after it. The part is applied one item at a time instead; an item that
 * still fails is skipped and logged (a finish skipped so leaves its run to lapse back to the queue,
 * and run again). Each statement is atomic, so nothing is applied twice.
 */
function applyAlone(workerId: string) {
  type Item = { id?: string; runId?: string };
  const skip = (what: string, item: Item, err: unknown): [] => {
    passOver(err, `the ${what} of run ${item.id ?? item.runId} from worker ${workerId} could not be applied and was skipped`);
    return [];
  };
  const one = async <T extends Item>(items: readonly T[], what: string, apply: (item: T) => Promise<void>): Promise<void> => {
    for (const item of items) await apply(item).catch((err: unknown) => skip(what, item, err));
  };
  /** All items in one statement; when that fails, one by one. */
  const each = async <T extends { id: string }, R>(items: T[], what: string, apply: (some: T[]) => Promise<R[] | void>): Promise<R[]> => {
    if (items.length === 0) return [];
    try {
      return (await apply(items)) ?? [];
    } catch (err) {
      if (items.length === 1) return skip(what, items[0]!, err);
      if (isStoreUnavailable(err)) throw err;
      const out: R[] = [];
      for (const item of items) out.push(...(await apply([item]).then((rows) => rows ?? [], (e: unknown) => skip(what, item, e))));
      return out;
    }
  };
  return { one, each };
}

/** Claims that failed (not for an unreachable store) are answered "held": the worker delivers them again later. */
function claimsLater(err: unknown, runIds: string[]): { claimed: RunRow[]; held: string[] } {
  passOver(err, `claiming ${runIds.length} run(s) failed; they are delivered again later`);
  return { claimed: [], held: runIds };
}

/** The spans of each run finishing in this report, when few enough to keep in its row. */
function spansWithFinish(finishedRuns: Report["finished"], spans: ReportedSpan[]): Map<string, SpanInput[]> {
  const out = new Map<string, SpanInput[]>();
  if (spans.length === 0 || finishedRuns.length === 0) return out;
  const finishing = new Map(finishedRuns.map((f) => [f.id, Math.min(SPANS_KEPT_WITH_FINISH * (f.calls ?? 1), MOST_SPANS_KEPT_WITH_FINISH)]));
  for (const s of spans) {
    if (!s.runId || !finishing.has(s.runId)) continue;
    let list = out.get(s.runId);
    if (!list) out.set(s.runId, (list = []));
    list.push(asSpanInput(s));
  }
  for (const [runId, list] of out) if (list.length > finishing.get(runId)!) out.delete(runId);
  return out;
}

/** In place: the report's spans are this request's own objects (a copy each cost a fan-out's every span). */
function asSpanInput(s: ReportedSpan): SpanInput {
  s.parentSpanId ??= null;
  s.error ??= null;
  s.runId ??= null;
  s.servingId ??= null;
  return s as SpanInput;
}
