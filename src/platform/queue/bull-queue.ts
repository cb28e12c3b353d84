// The BullMQ side of the run queue (`nbx up --redis`): loaded only then, so the embedded path never
// loads BullMQ and its Redis client.
import { NboxError } from "../../errors.ts";
import type { RunEvents } from "../run-events.ts";
import type { Store } from "../store/index.ts";
import type { RunRow } from "../store/schema.ts";
import { BullRunQueue, RedisUnavailableError, type QueueableRun, type QueueSchedule } from "./bullmq-queue.ts";
import { syncConcurrency } from "./concurrency.ts";
import { KeptSettings } from "./kept-settings.ts";
import { queueSchedule } from "./queue-schedule.ts";
import { PendingAdds } from "./pending-adds.ts";
import type { RunQueue } from "./run-queue.ts";
import { LostDataWatch } from "./lost-data-watch.ts";
import { StrandedRuns } from "./stranded-runs.ts";

/**
 * BullMQ on Redis. A run is queued once the store holds it: while Redis is away, runs whose add
 * failed are kept and added in the background once it answers (see {@link PendingAdds}), so
 * triggers, retries, runs taken back from dead workers and schedule fires all wait instead of
 * failing. Settings (concurrency, schedules) are kept the same way and applied once Redis answers.
 */
export class BullQueue implements RunQueue {
  readonly kind = "bullmq";
  readonly firesSchedules = true;
  private readonly q: BullRunQueue;
  private readonly pending: PendingAdds;
  private readonly settings = new KeptSettings((message) => console.error(`[nbox queue] ${message}`));
  /** Queued runs whose job went missing are queued again. */
  readonly stranded: StrandedRuns;
  /** Data Redis lost while connected is set again. */
  readonly lostData: LostDataWatch;

  constructor(
    private readonly redisUrl: string,
    readonly prefix: string,
    private readonly events: RunEvents,
    private readonly store: Pick<Store, "listRuns" | "getRuns" | "listDeployments" | "getVersion" | "listSchedules">,
  ) {
    this.q = new BullRunQueue({ url: redisUrl, prefix });
    this.stranded = new StrandedRuns({ store, withoutJob: (runs) => this.q.withoutJob(runs), add: (runs) => this.q.add(runs.map(queueable)), log: (message) => console.error(`[nbox queue] ${message}`) });
    this.stranded.start();
    this.pending = new PendingAdds({
      add: (runs) => this.q.add(runs),
      requeueStored: () => this.requeueStored(),
      log: (message) => console.error(`[nbox queue] ${message}`),
    });
    this.lostData = new LostDataWatch({ held: () => this.q.stillHeld(), mark: () => this.q.markHeld(), resync: () => this.resync(), log: (message) => console.error(`[nbox queue] ${message}`) });
    this.lostData.start();
    // Redis may have come back without its data: marked again (the watch need not find it lost),
    // then everything the store holds is set again.
    this.q.onReconnect(() => void this.q.markHeld().then(() => this.resync(), () => this.resync()));
  }

  /**
   * The store's queued runs added again, and the schedules and limits set again (else cron would
   * stop firing until the next start).
   */
  private async resync(): Promise<void> {
    this.pending.reconnected();
    await this.settings.reconnected();
    await this.settingsAgain();
  }

  async enqueue(runs: readonly RunRow[]): Promise<void> {
    await this.queueAgain(runs, (q) => this.q.add(q));
  }

  async takenBack(runs: readonly RunRow[], live: ReadonlySet<string>): Promise<void> {
    await this.queueAgain(runs, (q) => this.q.release(q, live));
  }

  async workersGone(workerIds: readonly string[]): Promise<void> {
    const jobDeployments = (await this.store.listDeployments()).filter((d) => d.type === "job").map((d) => d.id);
    try {
      await this.q.releaseHeldBy(new Set(workerIds), jobDeployments);
    } catch (err) {
      // Redis away: BullMQ's stalled check hands those jobs out again once their locks lapse.
      if (!(err instanceof RedisUnavailableError)) throw err;
    }
  }

  private async queueAgain(runs: readonly RunRow[], put: (q: QueueableRun[]) => Promise<void>): Promise<void> {
    if (runs.length === 0) return;
    const queued = runs.map(queueable);
    try {
      await put(queued);
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
      // Kept and added once Redis answers; a job still held by the dead worker then comes back
      // through BullMQ's stalled check.
      this.pending.keep(queued, err.message);
    }
    for (const d of new Set(runs.map((r) => r.deploymentId))) this.events.emit("queued", d);
  }

  /**
   * The store has the run cancelled already. A job that cannot be removed while Redis is away is
   * delivered later, and its claim finds nothing to run.
   */
  async cancelled(run: RunRow): Promise<void> {
    if (this.pending.forget(run.id)) return;
    try {
      await this.q.remove(run.id, run.deploymentId);
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
    }
  }

  /** Every run the store holds as queued goes (again) to BullMQ: adding a run already there does nothing. */
  async requeueStored(): Promise<void> {
    let before: string | undefined;
    for (;;) {
      const page = await this.store.listRuns({ status: "queued", limit: 500, ...(before ? { before } : {}) });
      if (page.length === 0) return;
      await this.enqueue(page);
      before = page[page.length - 1]!.id;
    }
  }

  /** Every job deployment's limit and every enabled schedule, as the store holds them, set on the queue again. */
  private async settingsAgain(): Promise<void> {
    const failed = (what: string) => (err: unknown) => console.error(`[nbox queue] ${what} could not be set again after Redis came back: ${(err as Error).message}`);
    await syncConcurrency({ store: this.store, queue: this }).catch(failed("deployment limits"));
    const schedules = await this.store.listSchedules().catch(failed("schedules"));
    // One at a time, each on its own: one the queue refuses does not keep the others from firing.
    for (const s of schedules ?? []) if (s.enabled) await this.upsertSchedule(queueSchedule(s)).catch(failed(`schedule ${s.id}`));
  }

  setConcurrency(deploymentId: string, n: number): Promise<void> {
    return this.settings.apply(`concurrency:${deploymentId}`, () => this.q.setConcurrency(deploymentId, n > 0 ? n : null));
  }

  async upsertSchedule(s: QueueSchedule): Promise<number | null | undefined> {
    let first: number | null | undefined;
    await this.settings.apply(`schedule:${s.id}`, async () => void ({ nextFireAt: first } = await this.q.upsertSchedule(s)));
    return first;
  }

  removeSchedule(scheduleId: string, deploymentId: string): Promise<void> {
    return this.settings.apply(`schedule:${scheduleId}`, async () => void (await this.q.removeSchedule(scheduleId, deploymentId)));
  }

  workerSettings() {
    return { kind: "bullmq" as const, redisUrl: this.redisUrl, prefix: this.prefix };
  }

  /**
   * At start: Redis must answer. Fails fast naming it, with what to do — nothing is running yet
   * that would reconnect (the hint a running platform's refusals give).
   */
  async ping(): Promise<number> {
    try {
      return await this.q.ping();
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
      throw new NboxError("UNAVAILABLE", `Redis at ${err.url} is unreachable (${err.reason}); a platform started with --redis needs it`, "Start Redis or check the --redis URL, then start the platform again (without --redis it uses the embedded queue)", { cause: err });
    }
  }

  async close(): Promise<void> {
    this.stranded.stop();
    this.lostData.stop();
    await this.pending.close();
    await this.q.close();
  }
}

const queueable = (r: RunRow): QueueableRun => ({ id: r.id, deploymentId: r.deploymentId, maxRetries: r.maxRetries, retryBackoffMs: r.retryBackoffMs, scheduledFor: r.scheduledFor });
