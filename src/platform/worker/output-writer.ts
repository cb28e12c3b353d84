import type { Span } from "../../trace/span.ts";
import type { PlatformContext } from "../context.ts";
import type { LogLineInput } from "../store/logs-repo.ts";
import type { FinishRunInput, StartedInput } from "../store/runs-repo.ts";
import type { SpanInput } from "../store/spans-repo.ts";

// Log lines and spans alone wait a little to form batches; a finished run is written at once.
const OUTPUT_FLUSH_MS = 50;
const BATCH_PAUSE_MS = 3;
// A started mark waits this long: a call that ends sooner needs none (its finish records when it
// started), so short calls cost no extra write. The price: a platform crash within this moment of
// a run's start counts it as not started (it is tried again without spending an attempt).
const STARTED_MARK_DELAY_MS = 20;

type FinishItem = FinishRunInput & { id: string; attempt: number };

/**
 * Writes every run's output for one worker in batches, always in this order per flush:
 * started marks, log lines, spans, then finished runs — so a caller that sees a run finished
 * also sees all its logs and spans. Many runs finishing together cost a few statements, not N×.
 */
export class OutputWriter {
  private starts: StartedInput[] = [];
  /** Started marks still waiting out STARTED_MARK_DELAY_MS, by run id, oldest first. */
  private pendingStarts = new Map<string, { startedAt: number; due: number }>();
  private startTimer: NodeJS.Timeout | undefined;
  private logs = new Map<string, LogLineInput[]>();
  private spans: SpanInput[] = [];
  private finishes: Array<{ item: FinishItem; done: () => void }> = [];
  private timer: NodeJS.Timeout | undefined;
  private immediate = false;
  private writing = false;
  private chain: Promise<void> = Promise.resolve();

  /** `busy()`: more runs are executing, so more finishes are about to come — wait a moment to batch them. */
  constructor(
    private readonly ctx: PlatformContext,
    private readonly workerId: string,
    private readonly busy: () => boolean = () => false,
  ) {}

  /**
   * The run's call was handed to its process: from now on a crash costs the attempt. Written in a
   * batch, shortly after and never awaited, so it adds no latency to the call.
   */
  started(runId: string, startedAt: number): void {
    this.pendingStarts.set(runId, { startedAt, due: Date.now() + STARTED_MARK_DELAY_MS });
    this.startTimer ??= setTimeout(this.matureStarts, STARTED_MARK_DELAY_MS);
  }

  /** Queue the marks that waited long enough; wait again for the youngest ones. */
  private readonly matureStarts = () => {
    this.startTimer = undefined;
    const now = Date.now();
    for (const [id, { startedAt, due }] of this.pendingStarts) {
      if (due > now) {
        this.startTimer = setTimeout(this.matureStarts, due - now);
        break;
      }
      this.starts.push({ id, startedAt });
      this.pendingStarts.delete(id);
    }
    if (this.starts.length > 0) this.soon();
  };

  /** The run's call is over: a mark not written yet is not needed any more (finish or requeue says the rest). */
  ended(runId: string): void {
    this.pendingStarts.delete(runId);
  }

  log(runId: string, stream: "stdout" | "stderr" | "system", line: string): void {
    let lines = this.logs.get(runId);
    if (!lines) this.logs.set(runId, (lines = []));
    lines.push({ stream, line, ts: Date.now() });
    this.later();
  }

  span(runId: string, span: Span): void {
    this.spans.push({ ...span, error: span.error ?? null, runId });
    this.later();
  }

  /** Mark a run finished (batched with others); resolves once it is stored and announced. */
  finish(item: FinishItem): Promise<void> {
    return new Promise((done) => {
      this.finishes.push({ item, done });
      this.soon();
    });
  }

  /** Write started marks and finished runs soon. */
  private soon(): void {
    // While a write is in flight, they pile up and go out together right after it.
    if (this.immediate || this.writing) return;
    this.immediate = true;
    const go = () => {
      this.immediate = false;
      void this.flush({ spans: false });
    };
    // A lone run is written at once (latency); under load a short pause gathers a batch (throughput).
    if (this.busy()) setTimeout(go, BATCH_PAUSE_MS);
    else setImmediate(go);
  }

  private later(): void {
    this.timer ??= setTimeout(() => void this.flush(), OUTPUT_FLUSH_MS);
  }

  /**
   * Write what is pending now (chained after earlier writes, so order is kept). A finish-driven
   * flush leaves spans to the timer — they are off the result's critical path; readers of a
   * run's spans call flush() first.
   */
  flush(opts: { spans?: boolean } = {}): Promise<void> {
    const withSpans = opts.spans ?? true;
    if (withSpans || this.spans.length === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const logs = this.logs;
    const spans = withSpans ? this.spans : [];
    const finishes = this.finishes;
    // A run finishing in this same write needs no started mark: its finish records when it started.
    const finishing = new Set(finishes.map((f) => f.item.id));
    const starts = this.starts.filter((s) => !finishing.has(s.id));
    this.logs = new Map();
    if (withSpans) this.spans = [];
    this.finishes = [];
    this.starts = [];
    if (starts.length === 0 && logs.size === 0 && spans.length === 0 && finishes.length === 0) return this.chain;
    const store = this.ctx.store;
    this.writing = true;
    this.chain = this.chain.then(async () => {
      if (starts.length) await guard("started runs", () => store.markRunsStarted(this.workerId, starts));
      for (const [runId, lines] of logs) {
        await guard(`logs of run ${runId}`, () => store.appendLogs(runId, lines));
        this.ctx.events.emit("logs", runId);
      }
      if (spans.length) await guard("spans", () => store.insertSpans(spans));
      let applied = new Set<string>();
      if (finishes.length) {
        await guard("finished runs", async () => {
          applied = new Set(await store.finishRuns(finishes.map(({ item: { attempt: _a, ...rest } }) => rest)));
        });
      }
      for (const { item, done } of finishes) {
        // Waiters get the final fields with the wake-up (only for rows this write really finished).
        const final = applied.has(item.id)
          ? { status: item.status, result: item.result ?? null, error: item.error ?? null, attempt: item.attempt, startedAt: item.startedAt ?? null, finishedAt: item.finishedAt ?? Date.now() }
          : undefined;
        this.ctx.events.emit("finished", item.id, final);
        done();
      }
    }).finally(() => {
      this.writing = false;
      if (this.finishes.length > 0 || this.starts.length > 0) void this.flush({ spans: false });
    });
    return this.chain;
  }
}

async function guard(what: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (err) {
    // A failed write must not wedge the worker: report it and keep going.
    console.error(`[nbox] could not store ${what}:`, err);
  }
}
