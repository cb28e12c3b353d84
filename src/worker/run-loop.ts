// The embedded queue seen from a worker: claim runs from the control plane while slots are free (a
// claim is held open while the queue is empty) and run them through the executor, keeping each
// deployment below its `resource.concurrency`.
import type { ControlPlane } from "./control-plane.ts";
import { PREFETCH_PER_SLOT, executesFor, prefetchCap, watchCallLength } from "./prefetch.ts";
import type { WorkerLoad } from "./report-batcher.ts";
import type { RunExecutor, RunRow } from "./run-executor.ts";
import { sleep } from "../lib/pause.ts";

// Runs claimed ahead per slot: one claim statement feeds several calls. While claims come back full
// (a deep queue) and calls are short, the number doubles up to the cap of prefetch.ts, so a large
// fan-out of small runs moves in large batches (a claim statement costs far less per run with
// hundreds of rows); a claim that comes back short, or long calls, bring it back down.
// A claim is held open this long by the control plane while the queue is empty.
const CLAIM_WAIT_MS = 20_000;
// While runs are in flight, how long a claim is held open.
const BUSY_CLAIM_WAIT_MS = 200;
// After a failed claim (control plane down), wait before the next.
const CLAIM_RETRY_MS = 500;
// On stop, how long to wait for interrupted attempts to be requeued before closing anyway.
const STOP_DRAIN_MS = 10_000;

export interface RunLoopDeps {
  cp: ControlPlane;
  /** This worker's id at the control plane (it changes if the worker has to register again). */
  me: { id: string };
  slots: number;
  executor: RunExecutor;
  /** Where claimed runs are recorded as held (the heartbeat renews exactly those). */
  held: { hold(runIds: Iterable<string>): void };
  /** A call running longer than this has turned long (default: a short call's length). */
  longCallMs?: number;
}

/** Claims runs from the control plane while slots are free and executes each attempt in a worker process. */
export class RunLoop {
  private active = 0;
  private pumping = false;
  private again = false;
  private stopped = false;
  private readonly claimAbort = new AbortController();
  /**
   * Cancels that arrived for runs claimed but not yet in `ready` (the claim's answer still on its
   * way, or its version being prepared), with when each arrived.
   */
  private readonly cancelSoon = new Map<string, number>();
  /** Claimed (status running) but waiting for a free slot. */
  private ready: RunRow[] = [];
  /** Runs executing now, per deployment (for `resource.concurrency`). */
  private readonly runningPer = new Map<string, number>();
  /** Concurrency limit per deployment, learnt from its version's manifest. */
  private readonly limitPer = new Map<string, number>();
  private readonly executor: RunExecutor;
  private prefetch = PREFETCH_PER_SLOT;
  /** Calls running here now that have turned long. */
  private longCalls = 0;
  /** Moves on when the worker joins again: a claim sent before brings runs of the old registration. */
  private registration = 0;

  constructor(private readonly d: RunLoopDeps) {
    this.executor = d.executor;
  }

  /** The control plane asked to cancel a run this worker holds. */
  cancel(runId: string): void {
    if (this.executor.cancel(runId)) return;
    const i = this.ready.findIndex((r) => r.id === runId);
    if (i >= 0) return void this.executor.cancelBeforeStart(this.ready.splice(i, 1)[0]!);
    // Claimed a moment ago and its version still being prepared: cancelled on arrival.
    this.cancelSoon.set(runId, performance.now());
  }

  /** Runs executing, and waiting for a slot (the report batcher waits a moment for more finishes then). */
  get load(): WorkerLoad {
    return this.ready.length > 0 ? "backlog" : this.active > 1 ? "busy" : "idle";
  }

  start(): void {
    this.kick();
  }

  /**
   * The worker was declared dead and joins again under a new id: the control plane took back every
   * run claimed under the old one. Those waiting here are dropped, unreported (not this worker's to
   * hand back), as are the answers of claims still on their way; the executor abandons the calls.
   */
  rejoined(): void {
    this.registration++;
    this.ready = [];
    this.cancelSoon.clear();
    this.kick();
  }

  /**
   * Stop claiming, interrupt the attempts in flight and wait until each is back in the queue
   * (same attempt number: a worker stop is not the run's failure), so nothing is left `running`.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.executor.stopping = true;
    this.claimAbort.abort();
    while (this.pumping) await sleep(10);
    // Claimed but never started: straight back to the queue, same attempt.
    await Promise.all(this.ready.splice(0).map((run) => this.executor.release(run)));
    this.executor.abortAll();
    const deadline = Date.now() + STOP_DRAIN_MS;
    while (this.active > 0 && Date.now() < deadline) await sleep(10);
    await this.executor.drain();
  }

  /** Claim and start runs until slots are full (one pump at a time; an empty queue holds the claim open). */
  kick(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void (async () => {
      try {
        do {
          this.again = false;
          while (this.active < executesFor(this.d.slots, this.executor.callsAreShort, this.executor.averageCallMs) && !this.stopped) {
            let run = this.takeStartable();
            if (!run) {
              // One request claims work for every free slot and a few calls ahead, skipping
              // deployments already at their concurrency limit; it waits while the queue is empty.
              const want = this.d.slots * this.prefetch - this.active - this.ready.length;
              if (want <= 0) break;
              const claimSentAt = performance.now();
              const registration = this.registration;
              let claimed = await this.claim(want, registration);
              const deep = claimed.length >= want && this.executor.callsAreShort;
              this.prefetch = deep ? Math.min(prefetchCap(this.executor.averageCallMs), this.prefetch * 2) : Math.max(PREFETCH_PER_SLOT, this.prefetch >> 1);
              for (const r of claimed) await this.learnLimit(r);
              // The worker joined again meanwhile: these were claimed under the id taken back.
              if (registration !== this.registration) claimed = [];
              for (const r of claimed) {
                if (this.cancelSoon.delete(r.id)) void this.executor.cancelBeforeStart(r);
                else this.ready.push(r);
              }
              this.forgetStaleCancels(claimSentAt);
              run = this.takeStartable();
              // Calls turned long while this claim was on its way, and none of what it brought can
              // start: the pump goes on claiming, so what cannot wait goes back now.
              if (!run && this.longCalls > 0) this.handBack();
              // Nothing startable (none came, all were cancelled on arrival, or their deployment's
              // limit holds them back): claim again while a slot is free. Held-back runs wait here for
              // one of their deployment's runs to end; the next claim leaves that deployment out and
              // may bring other deployments' runs for the free slot.
              if (!run) {
                // Every slot has a call: the next end of one kicks the next claim.
                if (this.active >= this.d.slots) break;
                continue;
              }
            }
            this.startRun(run);
          }
        } while (this.again && !this.stopped);
        // A claim that was on its way when a call turned long may have brought more than can wait.
        if (this.longCalls > 0) this.handBack();
      } finally {
        this.pumping = false;
      }
    })();
  }

  private startRun(run: RunRow): void {
    this.active++;
    this.runningPer.set(run.deploymentId, (this.runningPer.get(run.deploymentId) ?? 0) + 1);
    const callEnded = watchCallLength(() => this.callTurnedLong(), this.d.longCallMs);
    void this.executor.execute(run).finally(() => {
      if (callEnded()) this.longCalls--;
      this.active--;
      this.runningPer.set(run.deploymentId, this.runningPer.get(run.deploymentId)! - 1);
      // A run waiting here for this one's deployment (its limit) or for the slot starts now, also
      // while the pump waits on a claim: the next of a deployment limited to one at a time would
      // otherwise wait for that claim's answer (up to the end of its hold).
      const next = this.stopped || this.active >= executesFor(this.d.slots, this.executor.callsAreShort, this.executor.averageCallMs) ? undefined : this.takeStartable();
      if (next) this.startRun(next);
      this.kick();
    });
  }

  /**
   * A call has run longer than a short one: the runs claimed ahead were sized for short calls. Claim
   * no more ahead, and give back the waiting runs that no slot free of a long call will take soon —
   * untouched (same attempt), oldest kept — so another worker with a free slot can run them.
   */
  private callTurnedLong(): void {
    this.longCalls++;
    this.prefetch = PREFETCH_PER_SLOT;
    // At once, also while a claim is on its way (the pump does not hold `ready` across a wait).
    this.handBack();
  }

  /**
   * Keep as many waiting runs as there are slots free of a long call and give back the rest. Kept
   * first, oldest first: runs their deployment's limit lets start beside what runs here; then the
   * oldest of those it holds back (they start once their deployment's call ends).
   */
  private handBack(): void {
    if (this.stopped) return;
    let room = Math.max(0, this.d.slots - this.longCalls);
    const keep = new Set<RunRow>();
    const keptPer = new Map<string, number>();
    for (const run of this.ready) {
      if (room === 0) break;
      const kept = keptPer.get(run.deploymentId) ?? 0;
      if (!this.hasCapacity(run.deploymentId, kept)) continue;
      keep.add(run);
      keptPer.set(run.deploymentId, kept + 1);
      room--;
    }
    for (const run of this.ready) {
      if (room === 0) break;
      if (keep.has(run)) continue;
      keep.add(run);
      room--;
    }
    const back = this.ready.filter((run) => !keep.has(run));
    this.ready = this.ready.filter((run) => keep.has(run));
    for (const run of back) void this.executor.release(run);
  }

  /**
   * A cancel is sent only for a run already claimed by this worker, and claims go one at a time: a
   * cancel that arrived before the claim just answered was sent is about no run still on its way
   * here (its run ended here already, or was handed back). Without this, such cancels piled up.
   */
  private forgetStaleCancels(claimSentAt: number): void {
    for (const [id, at] of this.cancelSoon) if (at < claimSentAt) this.cancelSoon.delete(id);
  }

  private async claim(max: number, registration: number): Promise<RunRow[]> {
    // Held open while the queue is empty: a queued run is claimed the moment it arrives. While runs
    // are in flight the hold is short, so a run that ends (and may lift its deployment's limit)
    // is followed by a fresh claim soon; an aborted claim could lose the runs it took.
    // With a call in every slot the claim is only for runs ahead, which are not held open for: a run
    // arriving later could be claimed after the calls turned long and wait behind them.
    const waitMs = this.active >= this.d.slots ? 0 : this.active > 0 ? BUSY_CLAIM_WAIT_MS : CLAIM_WAIT_MS;
    try {
      const { runs } = await this.d.cp.call("POST /worker/claim", { body: { workerId: this.d.me.id, max, exclude: this.saturated(), waitMs }, signal: this.claimAbort.signal });
      if (registration !== this.registration) return [];
      this.d.held.hold(runs.map((r) => r.id));
      return runs;
    } catch (err) {
      if (this.stopped) return [];
      console.error(`[nbox worker] claim failed: ${(err as Error).message}`);
      await sleep(CLAIM_RETRY_MS);
      return [];
    }
  }

  /** Whether `deploymentId`'s limit lets one more run start beside those running and `alsoStarting` more. */
  private hasCapacity(deploymentId: string, alsoStarting = 0): boolean {
    const limit = this.limitPer.get(deploymentId) ?? 0;
    return limit <= 0 || (this.runningPer.get(deploymentId) ?? 0) + alsoStarting < limit;
  }

  /** The oldest claimed run whose deployment is below its limit (removed from `ready`). */
  private takeStartable(): RunRow | undefined {
    const i = this.ready.findIndex((r) => this.hasCapacity(r.deploymentId));
    return i < 0 ? undefined : this.ready.splice(i, 1)[0];
  }

  /** Deployments whose running + waiting runs already fill their limit: not worth claiming more. */
  private saturated(): string[] {
    const out: string[] = [];
    for (const d of this.limitPer.keys()) {
      const waiting = this.ready.filter((r) => r.deploymentId === d).length;
      if (!this.hasCapacity(d, waiting)) out.push(d);
    }
    return out;
  }

  private async learnLimit(run: RunRow): Promise<void> {
    this.limitPer.set(run.deploymentId, await this.executor.concurrencyOf(run.versionId));
  }
}
