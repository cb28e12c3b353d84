// Where queued runs wait for a worker. The store is always the source of truth (runs, attempts,
// results); the queue only says which run a worker should take next. Embedded: the store's own rows,
// claimed with SKIP LOCKED (workers hold a claim open; a queued event answers it). BullMQ on Redis
// (`nbx up --redis`): a queue per deployment, attempts with backoff, delays, stalled-job recovery;
// workers consume it directly and claim each delivered run at the control plane.
import type { RunEvents } from "../run-events.ts";
import type { RunRow } from "../store/schema.ts";
import type { QueueSchedule } from "./bullmq-queue.ts";

export interface RunQueue {
  readonly kind: "embedded" | "bullmq";
  /**
   * Runs the store just made `queued` (new, or taken back from a dead worker). Does not fail
   * because the queue's backend is away: the runs are queued in the store and reach it later.
   */
  enqueue(runs: readonly RunRow[]): Promise<void>;
  /**
   * Runs taken back from a worker declared dead (queued again in the store): the queue delivers
   * them now — not once a lock the dead worker held in the queue lapses. A delivery already with one
   * of the `live` workers is left to it.
   */
  takenBack(runs: readonly RunRow[], live: ReadonlySet<string>): Promise<void>;
  /**
   * These workers are gone (declared dead, or a crashed local worker found at start): deliveries
   * they held without a claim are delivered again now.
   */
  workersGone(workerIds: readonly string[]): Promise<void>;
  /** A queued run was cancelled: it must not be run (a delivery that finds it cancelled runs nothing). */
  cancelled(run: RunRow): Promise<void>;
  /** A job deployment's runs may run this many at once over all workers (0 = no limit). */
  setConcurrency(deploymentId: string, n: number): Promise<void>;
  /**
   * Who fires cron schedules: false — the control plane's scheduler (embedded); true — a BullMQ job
   * scheduler on the deployment's queue, whose fires workers turn into runs at the control plane.
   */
  readonly firesSchedules: boolean;
  /**
   * Create or replace a schedule's fires in the queue (nothing to do when the queue does not fire
   * them). Resolves to the first fire the queue planned (epoch ms; null: none), or undefined when
   * that is not known (the queue does not fire schedules, or the setting waits for Redis).
   */
  upsertSchedule(s: QueueSchedule): Promise<number | null | undefined>;
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
  takenBack(runs: readonly RunRow[]): Promise<void> {
    return this.enqueue(runs);
  }
  async cancelled(): Promise<void> {}
  // A claim is the only hold on a stored run: the store's recovery takes back what a dead worker held.
  async workersGone(): Promise<void> {}
  // Workers learn the limit from the manifest and claim around deployments at it.
  async setConcurrency(): Promise<void> {}
  async upsertSchedule(): Promise<undefined> {
    return undefined;
  }
  async removeSchedule(): Promise<void> {}
  workerSettings() {
    return { kind: "embedded" as const };
  }
  async close(): Promise<void> {}
}
