// Everything a worker tells the control plane about its runs goes out in batches: started marks,
// log lines, spans, finished and requeued runs, and claims of runs the queue delivered. One report
// keeps that order (the control plane applies it in order), so a caller that sees a run finished
// also sees all its logs. A report the control plane could not take (unreachable, 5xx) is sent
// again as it was until it is; what came meanwhile waits for the next. One it took whose answer was
// lost is sent again too: its log lines carry numbers, so the control plane skips those it took.
import type { z } from "@hono/zod-openapi";
import { MAX_CLAIM_RUNS, type WorkerReport } from "../contract/routes-worker.ts";
import type { Span } from "../trace/span.ts";
import type { ControlPlane } from "./control-plane.ts";
import type { RunRow } from "./run-executor.ts";
import { isTooLarge, splitReport } from "./report-split.ts";

type Report = z.input<typeof WorkerReport>;
type Finished = NonNullable<Report["finished"]>[number];
type Requeued = NonNullable<Report["requeued"]>[number];
type ServingNote = NonNullable<Report["servings"]>[number];
type LogLine = { stream: "stdout" | "stderr" | "system"; line: string; ts: number };
type ClaimAnswer = { claimed: RunRow[]; held: string[] };
type Applied = { finished: string[]; requeued: string[]; claimed: RunRow[]; held: string[] };
type Claims = { runIds: string[]; resolve(answer: ClaimAnswer): void; reject(err: unknown): void };

// Log lines and spans alone wait a little to form batches; a finished run goes out at once.
const OUTPUT_FLUSH_MS = 50;
const BATCH_PAUSE_MS = 2;
// While runs wait here for a slot (they wait anyway), reports go out at most this often: a report costs
// the control plane a request and a few statements whatever it carries, so under a backlog it carries
// every finish and claim of the moment. Without one, a result never waits for the interval. (At 20 ms
// a worker running ~400 runs/s sent reports of ~8 runs; at 50 ms the control plane's and Postgres's
// CPU per run fell by about a third.)
const BACKLOG_REPORT_INTERVAL_MS = 50;
// ...or sooner, once it carries this many finishes and claims: fast calls fill one well before the
// interval, and the claims of the next deliveries (which cannot start before) must not wait for it.
const BACKLOG_REPORT_RUNS = 64;
// A started mark waits this long: a call that ends sooner needs none (its finish records when it
// started), so short calls cost nothing extra. The price: a worker crash within this moment of a
// run's start counts it as not started (it is tried again without spending an attempt).
const STARTED_MARK_DELAY_MS = 20;

/** How loaded the worker is: `busy` runs several at once, `backlog` also has runs waiting for a slot. */
export type WorkerLoad = "idle" | "busy" | "backlog";

export class ReportBatcher {
  private starts: Array<{ id: string; attempt: number; startedAt: number }> = [];
  private pendingStarts = new Map<string, { attempt: number; startedAt: number; due: number }>();
  private startTimer: NodeJS.Timeout | undefined;
  /** Each run's lines since the last report, with the number of the first. */
  private logs = new Map<string, { first: number; lines: LogLine[] }>();
  /**
   * Numbers log lines, all runs together: a run's numbers only go up (what the control plane's skip
   * of lines sent again needs), and its lines of one report are numbered first, first + 1, …
   * (at most the count of lines buffered meanwhile, so below the next report's first).
   */
  private lineNo = 0;
  private spans: NonNullable<Report["spans"]> = [];
  private finished: Array<{ item: Finished; done: () => void }> = [];
  private requeued: Array<{ item: Requeued; done: (applied: boolean) => void }> = [];
  private servings: ServingNote[] = [];
  /** Numbers serving notes (a resent report carries the same numbers). */
  private noteNo = 0;
  private claims: Claims[] = [];
  /**
   * Runs the control plane counts as held by this worker: claimed, and not yet reported finished or
   * requeued, each with the number of the claim answer that brought it. A run handed back may be
   * claimed again (by a claim held open at the control plane, answered first) before the report
   * that handed it back is answered: that answer lets go only of the hold it was about, or the
   * heartbeat would stop renewing a run running here.
   */
  private readonly holding = new Map<string, number>();
  private holds = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate = false;
  /** The report waiting out the interval (or a short pause) under load. */
  private waiting: NodeJS.Timeout | undefined;
  private sending = false;
  /** When the last report went out (performance.now(): an interval, immune to wall-clock steps). */
  private lastSentAt = -Infinity;
  private chain: Promise<void> = Promise.resolve();
  private readonly stopping = new AbortController();
  /** The control plane's body limit (told at registration): a report refused as larger is split to fit it. */
  maxBodyBytes = 10 * 1024 * 1024;

  /** `load()`: with more runs executing, more finishes are about to come — wait a moment to batch them. */
  constructor(
    private readonly cp: ControlPlane,
    /** Known once the worker registered (nothing is sent before). */
    private readonly workerId: () => string,
    private readonly load: () => WorkerLoad = () => "idle",
  ) {}

  /** Runs just claimed: they are this worker's until a report that finishes or requeues them was answered. */
  hold(runIds: Iterable<string>): void {
    for (const id of runIds) this.holding.set(id, ++this.holds);
  }

  /**
   * The worker joins again under a new id: what it held under the old one was taken back, and the
   * heartbeat must not name those runs for ever after.
   */
  forgetHolds(): void {
    this.holding.clear();
  }

  /** What the heartbeat renews: a run missing here (its claim's answer never arrived) lapses and comes back. */
  get held(): string[] {
    return [...this.holding.keys()];
  }

  /** The run's call was handed to its process: from now on a crash costs the attempt. */
  started(runId: string, attempt: number, startedAt: number): void {
    this.pendingStarts.set(runId, { attempt, startedAt, due: Date.now() + STARTED_MARK_DELAY_MS });
    this.startTimer ??= setTimeout(this.matureStarts, STARTED_MARK_DELAY_MS);
  }

  private readonly matureStarts = () => {
    this.startTimer = undefined;
    const now = Date.now();
    for (const [id, { attempt, startedAt, due }] of this.pendingStarts) {
      if (due > now) {
        this.startTimer = setTimeout(this.matureStarts, due - now);
        break;
      }
      this.starts.push({ id, attempt, startedAt });
      this.pendingStarts.delete(id);
    }
    if (this.starts.length > 0) this.soon();
  };

  /** The run's call is over: a mark not sent yet is not needed any more. */
  ended(runId: string): void {
    this.pendingStarts.delete(runId);
  }

  log(runId: string, stream: LogLine["stream"], line: string): void {
    const no = ++this.lineNo;
    let batch = this.logs.get(runId);
    if (!batch) this.logs.set(runId, (batch = { first: no, lines: [] }));
    batch.lines.push({ stream, line, ts: Date.now() });
    this.later();
  }

  span(owner: { runId: string } | { servingId: string }, span: Span): void {
    this.spans.push({ ...span, error: span.error ?? null, ...owner });
    this.later();
  }

  serving(note: ServingNote): void {
    this.servings.push({ ...note, no: ++this.noteNo });
    this.later();
  }

  /** Report a run finished; resolves once the control plane stored it. */
  finish(item: Finished): Promise<void> {
    return new Promise((done) => {
      this.finished.push({ item, done });
      this.soon();
    });
  }

  /** Put a run back in the queue; resolves with whether it went back (false: it was cancelled meanwhile). */
  requeue(item: Requeued): Promise<boolean> {
    return new Promise((done) => {
      this.requeued.push({ item, done });
      this.soon();
    });
  }

  /**
   * Claim runs the queue delivered, with the next report (a finish and the claim of the next
   * delivery usually go together). Safe to repeat: the control plane hands a run again to the
   * worker that claimed it and has not started it, so a claim whose answer was lost orphans nothing.
   */
  claim(runIds: string[]): Promise<ClaimAnswer> {
    return new Promise((resolve, reject) => {
      this.claims.push({ runIds, resolve, reject });
      this.soon();
    });
  }

  private soon(): void {
    if (this.sending) return;
    if (this.immediate) {
      if (this.waiting && this.batchIsFull()) this.goNow();
      return;
    }
    this.immediate = true;
    const load = this.load();
    const go = () => {
      // A timer can fire early: its start is the event loop's clock of the turn that set it, which
      // lags behind after a long turn. Under a backlog the interval is a promise: wait out the rest.
      const rest = load === "backlog" ? this.lastSentAt + BACKLOG_REPORT_INTERVAL_MS - performance.now() : 0;
      if (rest > 0 && !this.batchIsFull()) return void (this.waiting = setTimeout(go, rest));
      this.goNow();
    };
    // A lone run goes out at once (latency); under load a pause gathers a batch (throughput).
    if (load === "idle") setImmediate(go);
    else this.waiting = setTimeout(go, load === "backlog" ? Math.max(BATCH_PAUSE_MS, this.lastSentAt + BACKLOG_REPORT_INTERVAL_MS - performance.now()) : BATCH_PAUSE_MS);
  }

  private goNow(): void {
    clearTimeout(this.waiting);
    this.waiting = undefined;
    this.immediate = false;
    void this.flush();
  }

  private batchIsFull(): boolean {
    let runs = this.finished.length + this.requeued.length;
    for (const c of this.claims) runs += c.runIds.length;
    return runs >= BACKLOG_REPORT_RUNS;
  }

  private later(): void {
    this.timer ??= setTimeout(() => void this.flush(), OUTPUT_FLUSH_MS);
  }

  /** Send everything pending now (after any report under way, so order is kept). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const finished = this.finished;
    const requeued = this.requeued;
    const finishing = new Set([...finished.map((f) => f.item.id), ...requeued.map((q) => q.item.id)]);
    // The holds of the requeued runs the answer lets go of: the ones they have now.
    const letGo = requeued.map((q) => [q.item.id, this.holding.get(q.item.id)] as const);
    // Whole groups of claims, up to what one report may carry; the rest go with the next.
    let claiming = 0;
    const claims: Claims[] = [];
    while (this.claims.length > 0 && claiming + this.claims[0]!.runIds.length <= MAX_CLAIM_RUNS) {
      const c = this.claims.shift()!;
      claiming += c.runIds.length;
      claims.push(c);
    }
    const report: Report = {
      workerId: this.workerId(),
      started: this.starts.filter((s) => !finishing.has(s.id)),
      logs: [...this.logs].map(([runId, { first, lines }]) => ({ runId, first, lines })),
      spans: this.spans,
      finished: finished.map((f) => f.item),
      requeued: requeued.map((q) => q.item),
      servings: this.servings,
      claim: claims.flatMap((c) => c.runIds),
    };
    this.starts = [];
    this.logs = new Map();
    this.spans = [];
    this.finished = [];
    this.requeued = [];
    this.servings = [];
    if (report.started!.length + report.logs!.length + report.spans!.length + finished.length + requeued.length + report.servings!.length + claiming === 0) return this.chain;
    this.sending = true;
    this.chain = this.chain
      .then(async () => {
        let applied: Applied = { finished: [], requeued: [], claimed: [], held: [] };
        this.lastSentAt = performance.now();
        try {
          applied = await this.send(report, new Map(letGo));
          this.hold(applied.claimed.map((r) => r.id));
          const held = new Set(applied.held);
          for (const c of claims) {
            const mine = new Set(c.runIds);
            c.resolve({ claimed: applied.claimed.filter((r) => mine.has(r.id)), held: c.runIds.filter((id) => held.has(id)) });
          }
        } catch (err) {
          if (!this.stopping.signal.aborted) {
            const also = claiming ? ` (its ${claiming} claim(s) are delivered again shortly)` : "";
            console.error(`[nbox worker] a report was refused${also}: ${(err as Error).message}`);
          }
          for (const c of claims) c.reject(err);
        }
        const back = new Set(applied.requeued);
        // Taken or not, a run reported over is not this worker's any more (one not taken was not
        // its own: cancelled meanwhile, or taken back). A requeued run lets go only of the hold it
        // had when reported (it may have been claimed again since); a finished one is never held
        // again (a repeated claim of it, riding on the report before, may have been answered after
        // this report was made).
        for (const [id, hold] of letGo) if (this.holding.get(id) === hold) this.holding.delete(id);
        for (const f of finished) this.holding.delete(f.item.id);
        for (const f of finished) f.done();
        for (const q of requeued) q.done(back.has(q.item.id));
      })
      .finally(() => {
        this.sending = false;
        if (this.finished.length > 0 || this.requeued.length > 0 || this.starts.length > 0 || this.claims.length > 0) this.soon();
      });
    return this.chain;
  }

  /**
   * Send one report. One the control plane refuses as larger than its body limit goes again as parts
   * that fit (report-split.ts), one after the other, their answers merged. `holds`: the hold each
   * requeued run had when the report was made.
   */
  private async send(report: Report, holds: ReadonlyMap<string, number | undefined>): Promise<Applied> {
    try {
      return await this.cp.persistEach("POST /worker/report", this.stopping.signal, () => [{ body: this.stillToSend(report, holds) }]);
    } catch (err) {
      if (!isTooLarge(err)) throw err;
      const applied: Applied = { finished: [], requeued: [], claimed: [], held: [] };
      for (const part of splitReport(this.stillToSend(report, holds), this.maxBodyBytes)) {
        const a = await this.cp.persist("POST /worker/report", this.stopping.signal, { body: part });
        for (const k of ["finished", "requeued", "claimed", "held"] as const) (applied[k] as unknown[]).push(...a[k]);
      }
      return applied;
    }
  }

  /**
   * A report as it may be sent (again). A try whose answer was lost may have been applied: a run it
   * handed back may then have been claimed by this worker again meanwhile (a claim held open at the
   * control plane), and sending the hand-back again would take it back from under its new call.
   */
  private stillToSend(report: Report, holds: ReadonlyMap<string, number | undefined>): Report {
    const requeued = report.requeued ?? [];
    if (!requeued.some((q) => this.holding.get(q.id) !== holds.get(q.id))) return report;
    return { ...report, requeued: requeued.filter((q) => this.holding.get(q.id) === holds.get(q.id)) };
  }

  /** Send what is pending, then stop retrying reports the control plane cannot take. */
  async close(): Promise<void> {
    clearTimeout(this.startTimer);
    await Promise.race([this.flush(), new Promise((r) => setTimeout(r, 5_000))]);
    this.stopping.abort();
  }
}
