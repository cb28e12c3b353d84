// What the control plane (producer) and the workers (consumers) must agree on when runs go through
// BullMQ: queue names, job names and payloads, job options and the lock settings. Both sides import
// this file only, so a change here cannot leave the two disagreeing.
import type { JobsOptions } from "bullmq";

/** Key prefix when the caller names none: every key is `<prefix>:<queue>:…`. */
export const DEFAULT_BULLMQ_PREFIX = "nbx";

/** Job name of a run job; its id is the run id. */
export const RUN_JOB = "run";
/** Job name of the jobs a schedule's job scheduler produces. */
export const SCHEDULE_JOB = "schedule";

/** Payload of a run job: references only, the run itself lives in the store. */
export interface RunJobData {
  runId: string;
  deploymentId: string;
}

/** Payload of a schedule's jobs (the job scheduler's template). */
export interface ScheduleJobData {
  scheduleId: string;
  deploymentId: string;
}

/**
 * The BullMQ queue of one job deployment. One queue per deployment, so a deployment's concurrency
 * limit is the queue's global concurrency. BullMQ forbids `:` in queue names; deployment ids have
 * none, but any other character set is kept reversible by percent-encoding.
 */
export function deploymentQueueName(deploymentId: string): string {
  if (!deploymentId) throw new Error("deploymentQueueName: empty deployment id");
  return `dep.${encodeURIComponent(deploymentId)}`;
}

/** The deployment id of a queue named by {@link deploymentQueueName}, or null for any other queue. */
export function deploymentIdOfQueue(queueName: string): string | null {
  return queueName.startsWith("dep.") ? decodeURIComponent(queueName.slice(4)) : null;
}

/**
 * Finished jobs are deleted at once: the store keeps the outcome, and a kept job would make a later
 * add with the same job id (= run id) a silent no-op.
 */
const REMOVE_WHEN_FINISHED = { removeOnComplete: true, removeOnFail: true } as const;

/** A run as the producer needs it to queue it. */
export interface QueueableRun {
  id: string;
  deploymentId: string;
  /** Retries after the first attempt; BullMQ gets `maxRetries + 1` attempts. */
  maxRetries: number;
  /** Base of the exponential backoff: attempt k+1 waits `retryBackoffMs * 2^(k-1)` after attempt k failed. */
  retryBackoffMs: number;
  /** Not before this time (epoch ms); null = as soon as possible. */
  scheduledFor: number | null;
}

/**
 * BullMQ options of a run's job (job id = run id, attempts, backoff, delay). A run's retry is not
 * BullMQ's: the worker delays the job by the store's backoff; `attempts` and `backoff` only cover a
 * delivery the worker failed to handle.
 */
export function runJobOptions(run: QueueableRun, now = Date.now()): JobsOptions {
  if (!Number.isInteger(run.maxRetries) || run.maxRetries < 0) throw new Error(`run ${run.id}: maxRetries must be an integer ≥ 0, got ${run.maxRetries}`);
  if (!Number.isFinite(run.retryBackoffMs) || run.retryBackoffMs < 0) throw new Error(`run ${run.id}: retryBackoffMs must be ≥ 0, got ${run.retryBackoffMs}`);
  return {
    jobId: run.id,
    attempts: run.maxRetries + 1,
    backoff: { type: "exponential", delay: Math.round(run.retryBackoffMs) },
    delay: run.scheduledFor == null ? 0 : Math.max(0, Math.ceil(run.scheduledFor - now)),
    ...REMOVE_WHEN_FINISHED,
  };
}

/**
 * Options of the jobs a schedule produces. Turning a fire into a run is quick store work; a few
 * attempts cover a store hiccup, and the run it creates has its own retries.
 */
export const SCHEDULE_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: "exponential", delay: 1000 },
  ...REMOVE_WHEN_FINISHED,
};

/**
 * A crash must never fail a job inside BullMQ: the store decides whether a lost attempt counts.
 * BullMQ fails a job once it stalled more than this many times.
 */
export const MAX_STALLED_COUNT = Number.MAX_SAFE_INTEGER;

/** Seconds a worker blocks on an idle queue before looking again (BullMQ's `drainDelay`). */
export const DRAIN_DELAY_S = 5;

/** Lease settings derived from one `leaseMs`, shared by every worker of a queue. */
export interface LeaseSettings {
  /** A job's lock lives this long unless renewed (BullMQ `lockDuration`). */
  lockDuration: number;
  /** The holder renews its locks this often. */
  renewEveryMs: number;
  /** How often stalled jobs (lock gone) are moved back to wait (BullMQ `stalledInterval`). */
  stalledInterval: number;
  maxStalledCount: number;
}

/**
 * Lock settings from the platform's lease. A dead worker's job is back in the queue between
 * `leaseMs` and `leaseMs + 2 × stalledInterval` after its last renewal (BullMQ marks a job on one
 * stalled check and moves it on the next if its lock is still gone).
 */
export function leaseSettings(leaseMs: number): LeaseSettings {
  if (!Number.isFinite(leaseMs) || leaseMs < 100) throw new Error(`leaseMs must be at least 100 ms, got ${leaseMs}`);
  return {
    lockDuration: Math.round(leaseMs),
    // Three renewals per lease: one slow Redis round trip does not cost the lock.
    renewEveryMs: Math.max(30, Math.floor(leaseMs / 3)),
    stalledInterval: Math.round(leaseMs),
    maxStalledCount: MAX_STALLED_COUNT,
  };
}
