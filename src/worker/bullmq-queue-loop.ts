// One deployment's queue inside a worker: fetches jobs only when a run slot is free, hands each to
// the processor, reports the outcome, and keeps the locks of the jobs it holds alive. BullMQ's Worker
// is used in its manual mode (no processor): its own loop would fetch up to its concurrency per
// queue, holding jobs that no slot is free for, out of reach of other workers.
import { Worker, type Job, type JobJson } from "bullmq";
import type { Redis } from "ioredis";
import { DRAIN_DELAY_S, deploymentQueueName, type LeaseSettings } from "../queue/bullmq-names.ts";
import { settle, toDelivery, type Delivery, type Outcome } from "./bullmq-delivery.ts";
import type { ReleaseSlot, Slots } from "./bullmq-slots.ts";
import { sleepUnless } from "../lib/pause.ts";

/** What a queue loop needs from its consumer. */
export interface QueueLoopDeps {
  deploymentId: string;
  prefix: string;
  /** The consumer's shared connection (each loop's Worker adds its own blocking connection). */
  connection: Redis;
  lease: LeaseSettings;
  slots: Slots;
  workerName?: string;
  process: (d: Delivery) => Promise<Outcome>;
  report: (err: unknown, context: string) => void;
}

/** A job this loop holds: its lock is renewed until it is settled or handed back. */
interface Held {
  job: Job;
  token: string;
  controller: AbortController;
  settling: boolean;
}

const errorOf = (x: unknown): Error => (x instanceof Error ? x : new Error(String(x)));

/** BullMQ's Worker in manual mode, plus taking the job BullMQ fetched along with a finish. */
class ManualWorker extends Worker {
  /**
   * The job a finish call fetched (`fetchNext`), made ready the way a fetched job is (a schedule's
   * next fire is planned); undefined when the call returned none.
   */
  async nextFetched(result: unknown, token: string): Promise<Job | undefined> {
    if (!Array.isArray(result) || !result[0]) return undefined;
    const [jobData, jobId] = result as [JobJson, string];
    return (await this.nextJobFromJobData(jobData, jobId, token)) ?? undefined;
  }
}

/** Consumes one deployment's queue until {@link QueueLoop.stop}. */
export class QueueLoop {
  readonly deploymentId: string;
  readonly worker: ManualWorker;
  private readonly held = new Map<string, Held>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly stopper = new AbortController();
  private readonly forced = (() => {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve };
  })();
  private readonly running: Promise<void>;
  private stopping: Promise<void> | null = null;
  private renewing = false;
  private tokenSeq = 0;

  constructor(private readonly deps: QueueLoopDeps) {
    this.deploymentId = deps.deploymentId;
    this.worker = new ManualWorker(deploymentQueueName(deps.deploymentId), null, {
      connection: deps.connection,
      prefix: deps.prefix,
      ...(deps.workerName ? { name: deps.workerName } : {}),
      autorun: false,
      lockDuration: deps.lease.lockDuration,
      stalledInterval: deps.lease.stalledInterval,
      maxStalledCount: deps.lease.maxStalledCount,
      drainDelay: DRAIN_DELAY_S,
    });
    this.worker.on("error", (err) => deps.report(err, `queue of deployment ${deps.deploymentId}`));
    // Any worker of a queue moves jobs whose lock lapsed (their worker died) back to wait.
    this.worker.startStalledCheckTimer().catch((err) => deps.report(err, "starting the stalled-job check"));
    this.running = this.loop();
  }

  /**
   * Stop fetching. Without `force`, running deliveries finish and are settled first; with it,
   * their signals abort and their jobs are left to the stalled check (back in the queue after the
   * lease). Then the queue's connections close. Calling it again with `force` during a graceful
   * stop stops waiting for the deliveries.
   */
  stop(force = false): Promise<void> {
    if (force) this.forceStop();
    this.stopping ??= (async () => {
      this.stopper.abort();
      await Promise.race([Promise.allSettled([...this.inFlight]), this.forced.promise]);
      // Forced on BullMQ's side: a graceful close would QUIT the blocking connection behind a
      // pending BZPOPMIN (up to the drain delay). Our deliveries are settled (or abandoned) by now.
      await this.worker.close(true).catch((err) => this.deps.report(err, "closing a queue"));
      await this.running;
    })();
    return this.stopping;
  }

  private forceStop(): void {
    this.stopper.abort();
    for (const h of this.held.values()) h.controller.abort(new Error("the worker is shutting down"));
    this.forced.resolve();
  }

  /** Extend the locks of every held job by one lease; a job whose lock is gone gets its signal aborted. */
  async renewLocks(): Promise<void> {
    if (this.renewing || this.held.size === 0) return;
    this.renewing = true;
    try {
      const entries = [...this.held.values()];
      const lost = await this.worker.extendJobLocks(
        entries.map((h) => String(h.job.id)),
        entries.map((h) => h.token),
        this.deps.lease.lockDuration,
      );
      for (const id of lost) {
        const h = this.held.get(id);
        // A job settled meanwhile has no lock to renew any more; that is not a loss. One lost
        // already was said once (it stays held until its delivery ends).
        if (!h || h.settling || h.controller.signal.aborted) continue;
        h.controller.abort(new Error(`lost the lock of job ${id} (deployment ${this.deploymentId}): another worker may run it now`));
        this.deps.report(new Error(`could not renew the lock of job ${id}`), `queue of deployment ${this.deploymentId}`);
      }
    } catch (err) {
      this.deps.report(err, "renewing job locks");
    } finally {
      this.renewing = false;
    }
  }

  private get stopped(): boolean {
    return this.stopper.signal.aborted;
  }

  private nextToken(): string {
    return `${this.worker.id}:${this.tokenSeq++}`;
  }

  // Two modes. Polling: take a slot, then fetch without blocking, so a fetched job starts at once.
  // Idle (the queue looked empty): block in Redis without holding a slot until a job is announced;
  // if no slot is free when one arrives, give it straight back so a worker with a free slot takes it.
  private async loop(): Promise<void> {
    let polling = true;
    while (!this.stopped) {
      try {
        if (polling) {
          const release = await this.deps.slots.acquire(this.stopper.signal, this);
          if (!release) break;
          let job: Job | undefined;
          const token = this.nextToken();
          try {
            job = await this.worker.getNextJob(token, { block: false });
          } catch (err) {
            release();
            throw err;
          }
          if (job && !this.stopped) {
            this.start(job, token, release);
            continue;
          }
          release();
          if (job) await this.handBack(job, token);
          polling = false;
        } else {
          const token = this.nextToken();
          const job = await this.worker.getNextJob(token, { block: true });
          if (!job) continue;
          polling = true;
          const release = this.stopped ? null : this.deps.slots.tryAcquire();
          if (release) this.start(job, token, release);
          else await this.handBack(job, token);
        }
      } catch (err) {
        if (this.stopped) break;
        this.deps.report(err, `fetching jobs of deployment ${this.deploymentId}`);
        await sleepUnless(1000, this.stopper.signal);
        polling = true;
      }
    }
  }

  private start(job: Job, token: string, release: ReleaseSlot): void {
    const h: Held = { job, token, controller: new AbortController(), settling: false };
    // Fetched again while an earlier delivery still runs here: that one's lock is long gone.
    this.held.get(String(job.id))?.controller.abort(new Error(`job ${job.id} was delivered again: this delivery no longer owns it`));
    this.held.set(String(job.id), h);
    const run = this.execute(h, release).finally(() => {
      if (this.held.get(String(job.id)) === h) this.held.delete(String(job.id));
      this.inFlight.delete(run);
    });
    this.inFlight.add(run);
  }

  private async execute(h: Held, release: ReleaseSlot): Promise<void> {
    let outcome: Outcome;
    try {
      outcome = await this.deps.process(toDelivery(h.job, this.deploymentId, h.controller.signal));
    } catch (err) {
      // A processor that throws has not decided: treat it as a failed attempt.
      outcome = { kind: "retry", error: errorOf(err) };
      if (err instanceof Error && err.name === "UnknownJobError") outcome = { kind: "fail", error: err, unrecoverable: true };
      this.deps.report(err, `processing job ${h.job.id}`);
    }
    h.settling = true;
    // BullMQ hands this queue's next job over in the finishing call when a slot is there for it:
    // this job's own, unless another queue waits for one (then it goes there, first come first
    // served) or the window shrank, else a free one — one Redis call per job instead of a finish
    // and a fetch. This is also how a deployment at its concurrency limit goes on: the spot this
    // job frees is not announced to workers blocked on the queue.
    let slot: ReleaseSlot | null = release;
    if (this.stopped || !this.deps.slots.mayKeep(this)) {
      release();
      slot = this.stopped ? null : this.deps.slots.tryAcquire();
    }
    let next: Job | undefined;
    try {
      next = await this.worker.nextFetched(await settle(h.job, h.token, outcome, slot !== null), h.token);
    } catch (err) {
      // Without the lock the job is no longer ours to settle; its new holder will.
      if (!h.controller.signal.aborted) this.deps.report(err, `reporting the outcome of job ${h.job.id}`);
    }
    if (next && slot && !this.stopped) {
      this.start(next, h.token, slot);
      return;
    }
    slot?.();
    if (next) await this.handBack(next, h.token);
  }

  // Back to the head of the wait list, lock released; no attempt is counted.
  private async handBack(job: Job, token: string): Promise<void> {
    try {
      await job.moveToWait(token);
    } catch (err) {
      // The lock then lapses and the stalled check puts the job back.
      this.deps.report(err, `handing back job ${job.id}`);
    }
  }
}
