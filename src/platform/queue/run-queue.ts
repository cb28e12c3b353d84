// Where queued runs wait for a worker. The store is always the source of truth (runs, attempts,
// results); the queue only says which run a worker should take next. Embedded: the store's own rows,
// claimed with SKIP LOCKED (workers hold a claim open; a queued event answers it). BullMQ on Redis
// (`nbx up --redis`): a queue per deployment, attempts with backoff, delays, stalled-job recovery;
// workers consume it directly and claim each delivered run at the control plane.
import type { RunEvents } from "../run-events.ts";
import type { RunRow } from "../store/schema.ts";
import { BullRunQueue, type QueueSchedule } from "./bullmq-queue.ts";

export interface RunQueue {
  readonly kind: "embedded" | "bullmq";
  /** Runs the store just made `queued` (new, or taken back from a dead worker). */
  enqueue(runs: readonly RunRow[]): Promise<void>;
  /** A queued run was cancelled: it must not be delivered. */
  cancelled(run: RunRow): Promise<void>;
  /** A job deployment's runs may run this many at once over all workers (0 = no limit). */
  setConcurrency(deploymentId: string, n: number): Promise<void>;
  /**
   * Who fires cron schedules: false — the control plane's scheduler (embedded); true — a BullMQ job
   * scheduler on the deployment's queue, whose fires workers turn into runs at the control plane.
   */
  readonly firesSchedules: boolean;
  /** Create or replace a schedule's fires in the queue (nothing to do when the queue does not fire them). */
  upsertSchedule(s: QueueSchedule): Promise<void>;
  removeSchedule(scheduleId: string, deploymentId: string): Promise<void>;
  /** What workers are told at registration. */
  workerSettings(): { kind: "embedded" } | { kind: "bullmq"; redisUrl: string; prefix: string };
  close(): Promise<void>;
}

export class StoreQueue implements RunQueue {
  readonly kind = "embedded";
  readonly firesSchedules = false;
  constructor(private readonly events: RunEvents) {}
  async enqueue(runs: readonly RunRow[]): Promise<void> {
    for (const d of new Set(runs.map((r) => r.deploymentId))) this.events.emit("queued", d);
  }
  async cancelled(): Promise<void> {}
  // Workers learn the limit from the manifest and claim around deployments at it.
  async setConcurrency(): Promise<void> {}
  async upsertSchedule(): Promise<void> {}
  async removeSchedule(): Promise<void> {}
  workerSettings() {
    return { kind: "embedded" as const };
  }
  async close(): Promise<void> {}
}

export class BullQueue implements RunQueue {
  readonly kind = "bullmq";
  readonly firesSchedules = true;
  private readonly q: BullRunQueue;

  constructor(
    private readonly redisUrl: string,
    readonly prefix: string,
    private readonly events: RunEvents,
  ) {
    this.q = new BullRunQueue({ url: redisUrl, prefix });
  }

  async enqueue(runs: readonly RunRow[]): Promise<void> {
    if (runs.length === 0) return;
    await this.q.add(runs.map((r) => ({ id: r.id, deploymentId: r.deploymentId, maxRetries: r.maxRetries, retryBackoffMs: r.retryBackoffMs, scheduledFor: r.scheduledFor })));
    for (const d of new Set(runs.map((r) => r.deploymentId))) this.events.emit("queued", d);
  }

  async cancelled(run: RunRow): Promise<void> {
    await this.q.remove(run.id, run.deploymentId);
  }

  async setConcurrency(deploymentId: string, n: number): Promise<void> {
    await this.q.setConcurrency(deploymentId, n > 0 ? n : null);
  }

  async upsertSchedule(s: QueueSchedule): Promise<void> {
    await this.q.upsertSchedule(s);
  }

  async removeSchedule(scheduleId: string, deploymentId: string): Promise<void> {
    await this.q.removeSchedule(scheduleId, deploymentId);
  }

  workerSettings() {
    return { kind: "bullmq" as const, redisUrl: this.redisUrl, prefix: this.prefix };
  }

  /** Fails fast, naming Redis, when it cannot be reached. */
  ping(): Promise<number> {
    return this.q.ping();
  }

  close(): Promise<void> {
    return this.q.close();
  }
}
