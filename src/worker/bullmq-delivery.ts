// What a worker's processor receives for one BullMQ job (a Delivery) and what it answers (an
// Outcome), and how an Outcome is reported back to BullMQ. BullMQ's counters are passed on as they
// are; the store decides what they mean for the run.
import { UnrecoverableError, type Job } from "bullmq";
import { RUN_JOB, SCHEDULE_JOB, type RunJobData, type ScheduleJobData } from "../queue/bullmq-names.ts";

/** What every delivery carries. */
export interface DeliveryBase {
  /** The deployment whose queue the job came from. */
  deploymentId: string;
  /** The BullMQ job id: the run id for runs, `repeat:<scheduleId>:<fire ms>` for schedule fires. */
  jobId: string;
  /** 1-based attempt by BullMQ's count (`attemptsMade + 1`). A crash does not advance it. */
  attempt: number;
  /** Attempts BullMQ allows in all (`maxRetries + 1` for runs). */
  maxAttempts: number;
  /**
   * How many times this job was taken back from a worker that lost it (died, or could not renew
   * its lock): 0 on a normal delivery.
   */
  stalled: number;
  /**
   * Aborted when this worker no longer owns the job (its lock could not be renewed, so another
   * worker may get it) or the consumer is force-closed. The processor should stop the run.
   */
  signal: AbortSignal;
}

/** A run's job: the run itself is read from the store by `runId`. */
export interface RunDelivery extends DeliveryBase {
  kind: "run";
  runId: string;
}

/** One fire of a schedule. Idempotency key for the run it becomes: `jobId`. */
export interface ScheduleDelivery extends DeliveryBase {
  kind: "schedule";
  scheduleId: string;
  /** The fire time the cron pattern gave (epoch ms), not the time of delivery. */
  firedAt: number;
}

/** One job handed to the processor, once a slot is held for it. */
export type Delivery = RunDelivery | ScheduleDelivery;

/**
 * The processor's answer.
 * - `done`: finished (whatever the run's result); the job is completed.
 * - `retry`: this attempt failed; BullMQ delivers it again after the backoff if attempts remain,
 *   else the job fails.
 * - `fail`: no further delivery. `unrecoverable: true` records it as failed in BullMQ
 *   (`UnrecoverableError`, e.g. the module does not import); `unrecoverable: false` ends it quietly
 *   for outcomes the store has already settled (cancelled, run gone).
 */
/** `release`: back to wait without spending an attempt (the worker is stopping; the run never ran here). */
/** `later`: delivered again after `delayMs`, no attempt spent (its run is still held by another worker). */
export type Outcome =
  | { kind: "done" }
  | { kind: "retry"; error: Error }
  | { kind: "fail"; error: Error; unrecoverable: boolean }
  | { kind: "release" }
  | { kind: "later"; delayMs: number };

/** A job this consumer cannot interpret (not produced by the nbox producer). */
export class UnknownJobError extends Error {
  override name = "UnknownJobError";
}

/** The delivery for a job fetched from `deploymentId`'s queue; throws {@link UnknownJobError}. */
export function toDelivery(job: Job, deploymentId: string, signal: AbortSignal): Delivery {
  const base: DeliveryBase = {
    deploymentId,
    jobId: String(job.id),
    attempt: job.attemptsMade + 1,
    maxAttempts: job.opts.attempts ?? 1,
    stalled: job.stalledCounter,
    signal,
  };
  if (job.name === RUN_JOB) {
    const data = job.data as Partial<RunJobData> | undefined;
    return { kind: "run", runId: data?.runId ?? base.jobId, ...base };
  }
  if (job.name === SCHEDULE_JOB && job.repeatJobKey) {
    const data = job.data as Partial<ScheduleJobData> | undefined;
    return { kind: "schedule", scheduleId: data?.scheduleId ?? job.repeatJobKey, firedAt: job.opts.prevMillis ?? job.timestamp + (job.delay ?? 0), ...base };
  }
  throw new UnknownJobError(`job ${base.jobId} on deployment ${deploymentId}'s queue has unknown name "${job.name}"`);
}

/**
 * Report an outcome to BullMQ. With `fetchNext`, BullMQ moves the queue's next job to active in
 * the same call (locked with the same token) and returns its raw data, else nothing useful.
 */
export async function settle(job: Job, token: string, outcome: Outcome, fetchNext: boolean): Promise<unknown> {
  switch (outcome.kind) {
    case "done":
      return job.moveToCompleted(null, token, fetchNext);
    case "retry":
      return job.moveToFailed(outcome.error, token, fetchNext);
    case "fail":
      if (outcome.unrecoverable) return job.moveToFailed(asUnrecoverable(outcome.error), token, fetchNext);
      return job.moveToCompleted(null, token, fetchNext);
    case "release":
      await job.moveToWait(token);
      return undefined;
    case "later":
      await job.moveToDelayed(Date.now() + outcome.delayMs, token);
      return undefined;
  }
}

function asUnrecoverable(err: Error): UnrecoverableError {
  const u = new UnrecoverableError(err.message);
  if (err.stack) u.stack = err.stack.replace(/^[^\n]*/, `UnrecoverableError: ${err.message}`);
  return u;
}
