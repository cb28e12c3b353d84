// The control plane's side of the BullMQ run queue (`nbx up --redis`): it adds run jobs, removes
// queued ones on cancel, sets per-deployment concurrency and keeps schedules as BullMQ job
// schedulers. It never processes a job. Jobs carry references only; the store stays the truth.
import { Queue, type JobsOptions } from "bullmq";
import type { Redis } from "ioredis";
import { DEFAULT_BULLMQ_PREFIX, RUN_JOB, SCHEDULE_JOB, SCHEDULE_JOB_OPTIONS, deploymentQueueName, runJobOptions, type QueueableRun, type RunJobData, type ScheduleJobData } from "../../queue/bullmq-names.ts";
import { FailFastGate, failFastRedis, redactRedisUrl, type FailFastTimeouts } from "../../queue/redis-client.ts";

export type { QueueableRun } from "../../queue/bullmq-names.ts";
export { RedisUnavailableError } from "../../queue/redis-client.ts";

/** Options of {@link BullRunQueue}. */
export interface BullRunQueueOptions extends FailFastTimeouts {
  /** `redis://[user:password@]host:port[/db]`; the queue owns (and closes) its connection. */
  url: string;
  /** Key prefix shared with the workers (default `nbx`); all keys are `<prefix>:<queue>:…`. */
  prefix?: string;
}

/** A schedule as the store keeps it; its id names the job scheduler. */
export interface QueueSchedule {
  id: string;
  deploymentId: string;
  /** Cron pattern (5 fields, or 6 with leading seconds), read by cron-parser like the store's scheduler. */
  cron: string;
  /** IANA time zone of the pattern; null/empty = the process's zone. */
  timezone: string | null;
  /** No fire before this time (epoch ms). */
  startsAt: number | null;
  /** No fire after this time (epoch ms). */
  endsAt: number | null;
}

/** Where a run's job was when {@link BullRunQueue.remove} was called. */
export type RemoveResult = "removed" | "active" | "absent";

/** Jobs of one deployment's queue by BullMQ state. */
export interface QueueCounts {
  waiting: number;
  prioritized: number;
  delayed: number;
  active: number;
  completed: number;
  failed: number;
}

/**
 * Producer of the BullMQ run queue: one BullMQ queue per job deployment (named by
 * `deploymentQueueName`), job id = run id.
 *
 * Redis down: every method fails within the connect/command timeouts with a
 * `RedisUnavailableError` (code UNAVAILABLE, the URL in the message, password redacted); nothing
 * is queued in memory meanwhile (no offline queue). The connection keeps reconnecting in the
 * background, so calls succeed again once Redis is back ({@link onReconnect}).
 */
export class BullRunQueue {
  /** The key prefix in use. */
  readonly prefix: string;
  /** The Redis URL, password redacted. */
  readonly url: string;
  private readonly client: Redis;
  private readonly gate: FailFastGate;
  private readonly queues = new Map<string, Queue>();
  private closed = false;
  private readyCount = 0;

  constructor(opts: BullRunQueueOptions) {
    this.prefix = opts.prefix ?? DEFAULT_BULLMQ_PREFIX;
    this.url = redactRedisUrl(opts.url);
    this.client = failFastRedis(opts.url, opts);
    this.gate = new FailFastGate(this.client, opts.url, opts.connectTimeoutMs ?? 2000);
    this.client.on("ready", () => this.readyCount++);
  }

  /** `fn` runs each time the connection is ready again after it was lost (not at the first connect). */
  onReconnect(fn: () => void): void {
    this.client.on("ready", () => {
      if (this.readyCount > 1 && !this.closed) fn();
    });
  }

  /**
   * Queue runs (one `addBulk` per deployment). A run with `scheduledFor` in the future is delayed
   * until then; `attempts = maxRetries + 1` with exponential backoff from `retryBackoffMs`.
   * Idempotent while a run's job exists: adding it again changes nothing.
   */
  async add(runs: readonly QueueableRun[]): Promise<void> {
    if (runs.length === 0) return;
    const now = Date.now();
    const byDeployment = new Map<string, Array<{ name: string; data: RunJobData; opts: JobsOptions }>>();
    for (const r of runs) {
      const jobs = byDeployment.get(r.deploymentId) ?? [];
      jobs.push({ name: RUN_JOB, data: { runId: r.id, deploymentId: r.deploymentId }, opts: runJobOptions(r, now) });
      byDeployment.set(r.deploymentId, jobs);
    }
    await this.gate.run(async () => {
      await Promise.all([...byDeployment].map(([deploymentId, jobs]) => this.queue(deploymentId).addBulk(jobs)));
    });
  }

  /**
   * Runs taken back from a dead worker: a job still active under its lock goes back to wait now
   * (or to delayed until `scheduledFor`, a retry's backoff) instead of when BullMQ's stalled check
   * finds the lock lapsed — up to a lock and two check intervals later. A job delayed to look again
   * later (another worker found the run held by the dead one) is promoted; a job that is gone is
   * added; a job active at one of the `live` workers (its name, BullMQ's `processedBy`) is theirs —
   * the queue redelivered it, and their claim finds the run queued. The dead worker's lock is left to lapse: the worker that takes the job next sets its own,
   * and a holder that was only cut off cannot complete it any more (the job left the active list;
   * the store refuses its report too, as it was declared dead).
   */
  async release(runs: readonly QueueableRun[], live: ReadonlySet<string> = new Set()): Promise<void> {
    if (runs.length === 0) return;
    const now = Date.now();
    const gone: QueueableRun[] = [];
    await this.gate.run(async () => {
      await Promise.all(
        runs.map(async (r) => {
          const job = await this.queue(r.deploymentId).getJob(r.id);
          if (!job) return void gone.push(r);
          const state = await job.getState();
          const due = r.scheduledFor ?? 0;
          try {
            // Token "0": move the job whoever holds its lock.
            if (state === "active" && job.processedBy && live.has(job.processedBy)) return;
            if (state === "active") await (due > now ? job.moveToDelayed(due, "0") : job.moveToWait("0"));
            else if (state === "delayed" && due <= now) await job.promote();
          } catch {
            // Moved meanwhile: by the stalled check (delivered either way), or completed by a holder
            // that was only cut off — then the job is gone, and the run, queued again, needs one.
            if (!(await this.queue(r.deploymentId).getJob(r.id))) gone.push(r);
          }
        }),
      );
    });
    await this.add(gone);
  }

  /**
   * Jobs active under the lock of these (dead) workers, in these deployments' queues, go back to
   * wait now: a worker takes a few jobs ahead of its slots, and those it never claimed at the
   * control plane are queued in the store, held by no one. Without this they wait for BullMQ's
   * stalled check, a lock and two check intervals after the worker died. Returns how many moved.
   */
  async releaseHeldBy(workerIds: ReadonlySet<string>, deploymentIds: readonly string[]): Promise<number> {
    if (workerIds.size === 0) return 0;
    return this.gate.run(async () => {
      let moved = 0;
      for (const deploymentId of deploymentIds) {
        for (const job of await this.queue(deploymentId).getActive()) {
          if (!job.processedBy || !workerIds.has(job.processedBy)) continue;
          try {
            await job.moveToWait("0");
            moved++;
          } catch {
            // Completed or moved meanwhile (by the stalled check): nothing left to do.
          }
        }
      }
      return moved;
    });
  }

  /** Ids of these runs that have no job in their deployment's queue (one pipelined round trip). */
  async withoutJob(runs: readonly Pick<QueueableRun, "id" | "deploymentId">[]): Promise<string[]> {
    if (runs.length === 0) return [];
    return this.gate.run(async () => {
      const pipe = this.client.pipeline();
      for (const r of runs) pipe.exists(this.queue(r.deploymentId).toKey(r.id));
      const answers = (await pipe.exec()) ?? [];
      return runs.filter((_, i) => {
        const [err, n] = answers[i] ?? [new Error("no answer"), null];
        if (err) throw err;
        return n === 0;
      }).map((r) => r.id);
    });
  }

  /**
   * Take a queued (waiting or delayed) run out of the queue, for cancel. An active job is left
   * alone ("active": its worker must be told by other means); "absent": no job for this run.
   */
  async remove(runId: string, deploymentId: string): Promise<RemoveResult> {
    return this.gate.run(async () => {
      const q = this.queue(deploymentId);
      const state = await q.getJobState(runId);
      if (state === "unknown" || state === "completed" || state === "failed") return "absent";
      if (state === "active") return "active";
      return (await q.remove(runId)) === 1 ? "removed" : "active";
    });
  }

  /**
   * At most `n` runs of the deployment in flight over all workers (BullMQ global concurrency);
   * `n <= 0` or null removes the limit.
   */
  async setConcurrency(deploymentId: string, n: number | null): Promise<void> {
    await this.gate.run(async () => {
      const q = this.queue(deploymentId);
      if (n != null && n > 0) await q.setGlobalConcurrency(Math.floor(n));
      else await q.removeGlobalConcurrency();
    });
  }

  /**
   * Create or replace the schedule's job scheduler on its deployment's queue. Each fire becomes a
   * `schedule` job (data `{ scheduleId, deploymentId }`, id `repeat:<scheduleId>:<fire ms>`).
   * Returns the next fire time, or null when the schedule has ended (then it is removed).
   */
  async upsertSchedule(s: QueueSchedule): Promise<{ nextFireAt: number | null }> {
    return this.gate.run(async () => {
      const q = this.queue(s.deploymentId);
      if (s.endsAt != null && s.endsAt <= Date.now()) {
        await q.removeJobScheduler(s.id);
        return { nextFireAt: null };
      }
      const data: ScheduleJobData = { scheduleId: s.id, deploymentId: s.deploymentId };
      const next = await q.upsertJobScheduler(
        s.id,
        {
          pattern: s.cron,
          ...(s.timezone ? { tz: s.timezone } : {}),
          ...(s.startsAt != null ? { startDate: s.startsAt } : {}),
          ...(s.endsAt != null ? { endDate: s.endsAt } : {}),
        },
        { name: SCHEDULE_JOB, data, opts: SCHEDULE_JOB_OPTIONS },
      );
      return { nextFireAt: next?.opts.prevMillis ?? null };
    });
  }

  /** Remove the schedule's job scheduler and its pending fire; true if it existed. */
  async removeSchedule(scheduleId: string, deploymentId: string): Promise<boolean> {
    return this.gate.run(async () => {
      const q = this.queue(deploymentId);
      const existed = (await q.getJobScheduler(scheduleId)) != null;
      await q.removeJobScheduler(scheduleId);
      return existed;
    });
  }

  /** Job counts of one deployment's queue by state. */
  async counts(deploymentId: string): Promise<QueueCounts> {
    return this.gate.run(async () => {
      const c = await this.queue(deploymentId).getJobCounts("waiting", "prioritized", "delayed", "active", "completed", "failed");
      return { waiting: c.waiting ?? 0, prioritized: c.prioritized ?? 0, delayed: c.delayed ?? 0, active: c.active ?? 0, completed: c.completed ?? 0, failed: c.failed ?? 0 };
    });
  }

  /**
   * Mark this Redis as holding the queue's data. Redis can lose it with the connection up (FLUSHALL,
   * a restore from an older snapshot, an eviction policy), which no reconnect reports: a mark found
   * missing later says so.
   */
  async markHeld(): Promise<void> {
    await this.gate.run(async () => void (await this.client.set(this.heldKey, String(Date.now()))));
  }

  /** false: the mark is gone, and with it whatever else Redis lost. */
  async stillHeld(): Promise<boolean> {
    return this.gate.run(async () => (await this.client.exists(this.heldKey)) === 1);
  }

  private get heldKey(): string {
    return `${this.prefix}:nbox:held`;
  }

  /** Round-trip time to Redis in ms; throws `RedisUnavailableError` when it cannot be reached. */
  async ping(): Promise<number> {
    return this.gate.run(async () => {
      const t0 = performance.now();
      await this.client.ping();
      return performance.now() - t0;
    });
  }

  /**
   * Delete one deployment's queue and everything in it (jobs, schedulers, counters), e.g. when
   * the deployment is deleted. Active jobs are dropped too; their workers' finishes then fail.
   */
  async dropDeployment(deploymentId: string): Promise<void> {
    await this.gate.run(async () => {
      await this.queue(deploymentId).obliterate({ force: true });
    });
    await this.queues.get(deploymentId)?.close();
    this.queues.delete(deploymentId);
  }

  /** Close every queue and the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
    if (this.client.status === "ready") await this.client.quit().catch(() => this.client.disconnect());
    else this.client.disconnect();
  }

  // One BullMQ Queue per deployment, all on the one connection (a shared client is never closed by them).
  private queue(deploymentId: string): Queue {
    if (this.closed) throw new Error("BullRunQueue is closed");
    let q = this.queues.get(deploymentId);
    if (!q) {
      // The version check would send INFO while BullMQ sets up, and a failure there would break
      // this Queue object for good; the workers check the version instead.
      q = new Queue(deploymentQueueName(deploymentId), { connection: this.client, prefix: this.prefix, skipVersionCheck: true });
      // Failures reach the caller through the rejected call; the event only repeats them.
      q.on("error", () => {});
      this.queues.set(deploymentId, q);
    }
    return q;
  }
}
