// A worker's side of the BullMQ run queue (`nbx worker` against `nbx up --redis`): consumes the
// queues of the deployments it serves, at most `slots` deliveries at once over all of them.
import type { Redis } from "ioredis";
import { DEFAULT_BULLMQ_PREFIX, leaseSettings, type LeaseSettings } from "../queue/bullmq-names.ts";
import { isRedisConnectionError, patientRedis, redactRedisUrl } from "../queue/redis-client.ts";
import type { Delivery, Outcome } from "./bullmq-delivery.ts";
import { QueueLoop } from "./bullmq-queue-loop.ts";
import { Slots } from "./bullmq-slots.ts";

export type { Delivery, DeliveryBase, Outcome, RunDelivery, ScheduleDelivery } from "./bullmq-delivery.ts";

/** Options of {@link BullRunConsumer}. */
export interface BullRunConsumerOptions {
  /** `redis://[user:password@]host:port[/db]`; the consumer owns (and closes) its connections. */
  url: string;
  /** Key prefix shared with the control plane (default `nbx`). */
  prefix?: string;
  /** Deliveries processed at once, over all deployments together. */
  slots: number;
  /**
   * Lease of a held job: its lock lasts this long and is renewed about three times per lease; a
   * job of a worker that died is back in the queue 1–3 leases after its last renewal.
   */
  leaseMs: number;
  /**
   * Called once per delivery, only once a slot is held for it (a job waiting for a slot is never
   * delivered, so it never counts as started). A throw counts as `{ kind: "retry" }`.
   */
  process: (delivery: Delivery) => Promise<Outcome>;
  /** Recorded on the jobs this worker takes (BullMQ `processedBy`). */
  workerName?: string;
  /**
   * Problems outside the processor's answer: Redis away, a lock that could not be renewed, an
   * outcome that could not be reported, a processor that threw. Connection trouble is reported
   * once per outage.
   * Default: `console.error`.
   */
  onError?: (err: Error, context: string) => void;
}

/**
 * Consumer of the BullMQ run queue. {@link setDeployments} says which deployments' queues to
 * consume (one BullMQ Worker each, in manual-fetch mode); all of them share one pool of `slots`.
 *
 * A job is fetched only while a slot is free; if an idle queue receives a job when none is, the job
 * goes straight back to the head of the queue (for any worker with a free slot) instead of waiting
 * here. Locks of held jobs are renewed from fetch until their outcome is reported.
 *
 * Redis down: fetching and reporting wait for it (nothing fails in BullMQ because of the outage);
 * locks that lapse meanwhile make those jobs come back, which the processor sees as `stalled > 0`
 * or an aborted `signal`.
 */
export class BullRunConsumer {
  /** The key prefix in use. */
  readonly prefix: string;
  /** The Redis URL, password redacted. */
  readonly url: string;
  private readonly client: Redis;
  private readonly lease: LeaseSettings;
  private readonly slotPool: Slots;
  private readonly loops = new Map<string, QueueLoop>();
  private readonly stopping = new Set<Promise<void>>();
  private readonly draining = new Set<QueueLoop>();
  private readonly renewTimer: NodeJS.Timeout;
  private readonly onError: (err: Error, context: string) => void;
  private connectionTroubleReported = false;
  private closing: Promise<void> | null = null;

  constructor(private readonly opts: BullRunConsumerOptions) {
    this.prefix = opts.prefix ?? DEFAULT_BULLMQ_PREFIX;
    this.url = redactRedisUrl(opts.url);
    this.lease = leaseSettings(opts.leaseMs);
    this.slotPool = new Slots(opts.slots);
    this.onError = opts.onError ?? ((err, context) => console.error(`[nbox queue] ${context}: ${err.message}`));
    this.client = patientRedis(opts.url, `nbx:worker${opts.workerName ? `:${opts.workerName}` : ""}`);
    this.client.on("error", (err: Error) => this.report(err, "worker connection"));
    this.client.on("ready", () => {
      this.connectionTroubleReported = false;
    });
    this.renewTimer = setInterval(() => {
      for (const loop of this.allLoops()) void loop.renewLocks();
    }, this.lease.renewEveryMs);
  }

  /** Deployments whose queues are consumed now. */
  get deployments(): string[] {
    return [...this.loops.keys()];
  }

  /** Deliveries held at once from now on (more are fetched at once; fewer as deliveries end). */
  resize(slots: number): void {
    this.slotPool.resize(slots);
  }

  /** Slots in use (deliveries being processed). */
  get busySlots(): number {
    return this.slotPool.inUse;
  }

  /**
   * Consume exactly these deployments' queues: queues of new ids open at once; queues of ids no
   * longer listed stop fetching, let their running deliveries finish and report, then close.
   */
  setDeployments(ids: Iterable<string>): void {
    if (this.closing) throw new Error("BullRunConsumer is closed");
    const wanted = new Set(ids);
    for (const [id, loop] of this.loops) {
      if (wanted.has(id)) continue;
      this.loops.delete(id);
      this.retire(loop, false);
    }
    for (const id of wanted) {
      if (this.loops.has(id)) continue;
      this.loops.set(
        id,
        new QueueLoop({
          deploymentId: id,
          prefix: this.prefix,
          connection: this.client,
          lease: this.lease,
          slots: this.slotPool,
          workerName: this.opts.workerName,
          process: this.opts.process,
          report: (err, context) => this.report(err, context),
        }),
      );
    }
  }

  /** Resolves once Redis answers and every current queue's connections are ready. */
  async waitUntilReady(): Promise<void> {
    await Promise.all([...this.loops.values()].map((l) => l.worker.waitUntilReady()));
  }

  /**
   * Stop consuming. Without `force`, running deliveries finish and their outcomes are reported
   * (locks stay renewed meanwhile); reporting waits for Redis if it is away, so `timeoutMs` bounds
   * the wait, after which the close is forced. With `force`, delivery signals abort and deliveries
   * are not waited for; their jobs come back to the queue once their lease lapses. Idempotent.
   */
  close(opts: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
    this.closing ??= (async () => {
      const loops = [...this.loops.values()];
      this.loops.clear();
      for (const l of loops) this.retire(l, opts.force ?? false);
      const escalate = opts.timeoutMs != null && !opts.force ? setTimeout(() => this.draining.forEach((l) => void l.stop(true)), opts.timeoutMs) : undefined;
      await Promise.allSettled([...this.stopping]);
      clearTimeout(escalate);
      clearInterval(this.renewTimer);
      if (this.client.status === "ready") await this.client.quit().catch(() => this.client.disconnect());
      else this.client.disconnect();
    })();
    return this.closing;
  }

  // Loops told to stop keep renewing their locks until their deliveries are settled.
  private allLoops(): QueueLoop[] {
    return [...this.loops.values(), ...this.draining];
  }

  private retire(loop: QueueLoop, force: boolean): void {
    this.draining.add(loop);
    const stopped = loop.stop(force).finally(() => {
      this.draining.delete(loop);
      this.stopping.delete(stopped);
    });
    this.stopping.add(stopped);
  }

  private report(err: unknown, context: string): void {
    const e = err instanceof Error ? err : new Error(String(err));
    if (isRedisConnectionError(e)) {
      if (this.connectionTroubleReported) return;
      this.connectionTroubleReported = true;
      this.onError(new Error(`Redis at ${this.url} is unreachable (${e.message}); waiting for it to come back`, { cause: e }), context);
      return;
    }
    this.onError(e, context);
  }
}
