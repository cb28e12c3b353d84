// Runs delivered by BullMQ (`nbx up --redis`): every delivery is claimed at the control plane
// (the store stays what users see), executed like any run, and its verdict handed back to BullMQ —
// a retry as a job delayed by the store's backoff, a run that can never work as an
// UnrecoverableError, a worker stopping as a job moved back to wait without spending an attempt,
// a run still held elsewhere as a job delayed to look again later. A schedule's fire is handed to
// the control plane, which turns it into a run once.
import { retryDelayMs } from "../contract/retry.ts";
import type { ControlPlane } from "./control-plane.ts";
import { BullRunConsumer, type Delivery, type Outcome } from "./bullmq-consumer.ts";
import { Slots } from "./bullmq-slots.ts";
import { executesFor, prefetchCap, watchCallLength } from "./prefetch.ts";
import type { WorkerLoad } from "./report-batcher.ts";
import type { RunExecutor, RunRow, Verdict } from "./run-executor.ts";
import { RunClaims, type ClaimCarrier, type Claimed } from "./run-claims.ts";

// Deliveries are held ahead of the run slots while calls are short (prefetch.ts: about half a second
// of calls per slot): they are claimed and wait here for a slot, so the claims and outcomes of many
// runs share one report and the Redis round trips overlap other runs' calls. With long calls a
// worker holds one delivery per slot, so no run waits here while another worker is idle.
// A delivery whose claim the control plane refused is delivered again after this long.
const CLAIM_REFUSED_DELAY_MS = 1_000;
// How long a cancel that came before its run's claim answer is remembered.
const CANCEL_SOON_KEPT_MS = 60_000;

/** Why a run stopped waiting for a run slot without getting one. */
type WaitEnd = "cancelled" | "stopping" | "handed back" | "abandoned";

export interface BullSourceOptions {
  cp: ControlPlane;
  me: { id: string };
  executor: RunExecutor;
  redisUrl: string;
  prefix: string;
  slots: number;
  leaseMs: number;
  /** The worker's report: claims ride on it (and it records claimed runs as held). */
  reports: ClaimCarrier;
  /** A call running longer than this hands back the runs waiting behind it (default: a short call's length). */
  longCallMs?: number;
}

export class BullRunSource {
  private readonly consumer: BullRunConsumer;
  private readonly claims: RunClaims;
  private readonly closing = new AbortController();
  /** Runs executing here: a second delivery of one of them (its lock lapsed meanwhile) is not run twice. */
  private readonly inProgress = new Set<string>();
  /**
   * A run starts only in one of these: one per worker process, and while calls are short a few more
   * per process, whose calls wait behind a running one (prefetch.ts, executesFor).
   */
  private readonly runSlots: Slots;
  /** Claimed runs waiting for a run slot, each with what stops its wait (aborted with why it ended). */
  private readonly waiting = new Map<string, AbortController>();
  private stopWaiting = false;
  /** Cancels that came before the claim's answer (run id → when). */
  private readonly cancelSoon = new Map<string, number>();
  /** Calls running here for longer than a short call: the runs waiting behind them may wait long. */
  private longCalls = 0;
  /** Moves on when the worker joins again: a claim answered since may be of the old registration. */
  private registration = 0;

  constructor(private readonly o: BullSourceOptions) {
    this.claims = new RunClaims(o.reports);
    this.runSlots = new Slots(o.slots);
    this.consumer = new BullRunConsumer({ url: o.redisUrl, prefix: o.prefix, slots: o.slots, leaseMs: o.leaseMs, process: (d) => this.process(d), workerName: o.me.id });
  }

  /** The control plane asked to cancel a run this worker holds. */
  cancel(runId: string): void {
    if (this.o.executor.cancel(runId)) return;
    const waiting = this.waiting.get(runId);
    if (waiting) return waiting.abort("cancelled" satisfies WaitEnd);
    // Its claim's answer has not reached this worker yet: cancelled on arrival. Cancels are only
    // sent for runs held here, so the few left over (a run that ended meanwhile) go after a while.
    const now = Date.now();
    for (const [id, at] of this.cancelSoon) if (now - at > CANCEL_SOON_KEPT_MS) this.cancelSoon.delete(id);
    this.cancelSoon.set(runId, now);
  }

  /**
   * The worker was declared dead and joins again under a new id: the control plane took back every
   * run held under the old one and released their jobs. Runs waiting here for a slot are dropped,
   * unreported, their jobs handed back if still ours; the executor abandons the calls.
   */
  rejoined(): void {
    this.registration++;
    this.cancelSoon.clear();
    for (const w of this.waiting.values()) w.abort("abandoned" satisfies WaitEnd);
  }

  /** Consume the queues of these job deployments (the control plane lists them in heartbeats). */
  setDeployments(ids: string[]): void {
    this.consumer.setDeployments(ids);
  }

  /** Runs held here, and waiting for a run slot (the report batcher waits a moment for more finishes then). */
  get load(): WorkerLoad {
    return this.waiting.size > 0 ? "backlog" : this.consumer.busySlots > 1 ? "busy" : "idle";
  }

  /** Stop taking deliveries; runs in flight end (released when the worker is stopping) and report first. */
  async close(): Promise<void> {
    // Runs waiting for a slot go back to the queue untouched, without waiting for the ones ahead.
    this.stopWaiting = true;
    for (const w of this.waiting.values()) w.abort("stopping" satisfies WaitEnd);
    await this.consumer.close({ timeoutMs: 10_000 });
    this.closing.abort();
  }

  private async process(d: Delivery): Promise<Outcome> {
    // A schedule's fire becomes an ordinary run at the control plane (once, however often it is delivered).
    if (d.kind === "schedule") {
      try {
        await this.o.cp.persist("POST /worker/schedule-fire", this.closing.signal, { body: { workerId: this.o.me.id, scheduleId: d.scheduleId, deploymentId: d.deploymentId, firedAt: d.firedAt } });
      } catch (err) {
        if (this.closing.signal.aborted) throw err;
        // Refused (this worker was declared dead and joins again under a new id, say): as a refused
        // claim, delivered again a moment later without spending an attempt — failed attempts
        // would run out while the worker rejoins, and the fire would be lost.
        return { kind: "later", delayMs: CLAIM_REFUSED_DELAY_MS };
      }
      return { kind: "done" };
    }
    // Its run is still being run (here, or by another worker the queue gave up on): the job must
    // outlive this delivery, so the run's outcome still has a job to settle — look again later.
    const later = { kind: "later", delayMs: this.o.leaseMs } as const;
    if (this.inProgress.has(d.runId)) return later;
    const registration = this.registration;
    let run: Claimed;
    try {
      run = await this.claims.claim(d.runId);
    } catch {
      // The control plane refused the claim (this worker was declared dead and is about to join
      // again, say; an unreachable control plane is retried, not refused). The run is still queued
      // in the store: its job waits a moment without spending an attempt — a failed attempt could
      // end the job and leave the run queued with none, and handing it straight back would have
      // this worker fetch and refuse it again in a loop. (The refused report that carried the claim said so.)
      return { kind: "later", delayMs: CLAIM_REFUSED_DELAY_MS };
    }
    if (run === "held") return later;
    // Finished, cancelled or unknown: nothing to do for this delivery.
    if (!run) return { kind: "done" };
    if (registration !== this.registration) {
      // The worker joined again while the claim was out, under the old id or the new one: handed
      // back under the new one (refused if it was not held under it), delivered again, claimed afresh.
      await this.o.executor.release(run);
      return { kind: "release" };
    }
    if (this.inProgress.has(run.id)) return later;
    this.inProgress.add(run.id);
    try {
      const slot = await this.slotFor(run);
      if (slot === "cancelled") {
        await this.o.executor.cancelBeforeStart(run);
        return { kind: "done" };
      }
      // Taken back with the old registration: the control plane requeued it already.
      if (slot === "abandoned") return { kind: "release" };
      if (slot === "stopping" || slot === "handed back") {
        await this.o.executor.release(run);
        return { kind: "release" };
      }
      let settled: Promise<Verdict>;
      const callEnded = watchCallLength(() => this.callTurnedLong(), this.o.longCallMs);
      try {
        ({ settled } = await this.o.executor.execute(run));
      } finally {
        if (callEnded()) this.longCalls--;
        slot();
      }
      // Held ahead again only once no call here runs long (loading included), whatever the pace of
      // the calls that ended: else deliveries are fetched, claimed (their runs shown running) and
      // handed back, again and again until the long calls end.
      if (this.longCalls === 0) {
        const e = this.o.executor;
        this.consumer.resize(this.o.slots * (e.callsAreShort ? prefetchCap(e.averageCallMs) : 1));
        this.runSlots.resize(executesFor(this.o.slots, e.callsAreShort, e.averageCallMs));
      }
      return outcomeOf(await settled, run);
    } finally {
      this.inProgress.delete(run.id);
    }
  }

  /**
   * A call has run longer than a short one: the runs held ahead were sized for short calls. Hold no
   * more than one delivery per slot from now on, and give back the waiting runs that no slot free of
   * a long call will take soon — untouched, oldest kept — so an idle worker can run them.
   */
  private callTurnedLong(): void {
    this.longCalls++;
    this.consumer.resize(this.o.slots);
    this.runSlots.resize(this.o.slots);
    let keep = this.roomToWait;
    for (const wait of this.waiting.values()) {
      if (keep > 0) keep--;
      else wait.abort("handed back" satisfies WaitEnd);
    }
  }

  /** How many runs may wait here for a slot while calls run long: one per slot free of a long call. */
  private get roomToWait(): number {
    return Math.max(0, this.o.slots - this.longCalls);
  }

  /** Wait for a run slot; what ended the wait instead when it did not come. */
  private async slotFor(run: RunRow): Promise<(() => void) | WaitEnd> {
    const stopping = () => this.stopWaiting || this.o.executor.stopping;
    if (stopping()) return "stopping";
    if (this.cancelSoon.delete(run.id) || run.cancelRequested) return "cancelled";
    // The rule callTurnedLong applied to the runs waiting then, for one arriving later (a run given
    // back and delivered here again, say): no slot free of a long call will take it soon, so it goes
    // back at once, untouched, for a worker with a free slot — not to wait here behind the long calls.
    if (this.longCalls > 0 && this.waiting.size >= this.roomToWait) return "handed back";
    const stop = new AbortController();
    this.waiting.set(run.id, stop);
    try {
      const slot = await this.runSlots.acquire(stop.signal);
      if (slot && !stopping()) return slot;
      slot?.();
      return stopping() ? "stopping" : (stop.signal.reason as WaitEnd);
    } finally {
      this.waiting.delete(run.id);
    }
  }
}

function outcomeOf(v: Verdict, run: RunRow): Outcome {
  if (typeof v === "object") return { kind: "later", delayMs: v.deferredMs };
  switch (v) {
    case "succeeded":
    case "cancelled":
      return { kind: "done" };
    case "retry":
      // Delivered again when the store set the next attempt: BullMQ's own backoff is not capped and
      // counts only the attempts it saw (not those a crash cost), so it would disagree.
      return { kind: "later", delayMs: retryDelayMs(run.retryBackoffMs, run.attempt) };
    case "released":
    case "abandoned":
      return { kind: "release" };
    case "failed":
    case "unrecoverable":
      return { kind: "fail", error: new Error(`run ${run.id} failed`), unrecoverable: true };
  }
}
