import { CronExpressionParser } from "cron-parser";
import { NboxError } from "../errors.ts";
import type { PlatformContext } from "./context.ts";
import type { DeploymentRow, ScheduleRow } from "./store/schema.ts";
import { queueSchedule, scheduleTimes } from "./queue/queue-schedule.ts";

const TICK_MS = 1000;
// How far ahead of this clock a delivered fire may claim to be (clock skew between machines). A fire
// from further ahead would record a last tick in the future and hold back every fire until then.
const FIRE_SKEW_MS = 60_000;
// A fire delivered this late was held while the control plane was away: its run covers the ticks
// that came due since, up to this long ago. Younger ones are still on their way and run (this is
// also room for the clocks of the worker that timed the fire and of this control plane to differ).
const COVERED_FIRE_MS = 5_000;
// Ticks are counted up to this many: a gap longer than that is reported as this many.
const MAX_COUNTED_TICKS = 1000;

/** Next fire time strictly after `after` (null when past `endsAt`). Throws a 400 for a bad cron/timezone. */
export function nextTick(cron: string, after: number, opts: { timezone?: string | null; startsAt?: number | null; endsAt?: number | null }): number | null {
  let expr;
  try {
    expr = CronExpressionParser.parse(cron, { currentDate: new Date(Math.max(after, (opts.startsAt ?? 0) - 1)), tz: opts.timezone ?? undefined });
  } catch (err) {
    throw new NboxError("BAD_REQUEST", `invalid schedule cron "${cron}"${opts.timezone ? ` (timezone ${opts.timezone})` : ""}: ${(err as Error).message}`, 'Use five fields, e.g. "*/5 * * * *"');
  }
  const next = expr.next().getTime();
  return opts.endsAt != null && next > opts.endsAt ? null : next;
}

/** How many ticks fall after `after` and at or before `until`, and the last of them (`after` when none). */
function ticksUpTo(cron: string, after: number, until: number, opts: Parameters<typeof nextTick>[2]): { count: number; last: number } {
  let count = 0;
  let last = after;
  for (let t = nextTick(cron, after, opts); t !== null && t <= until && count < MAX_COUNTED_TICKS; t = nextTick(cron, t, opts)) {
    count++;
    last = t;
  }
  return { count, last };
}

/** A manifest's schedule as store settings with its first tick; throws a 400 for a bad cron/timezone (check before registering anything). */
export function scheduleSettings(schedule: Record<string, unknown>, now = Date.now()) {
  const cron = String(schedule.cron ?? "");
  const ms = (v: unknown) => (typeof v === "string" ? Date.parse(v) : null);
  const timezone = typeof schedule.timezone === "string" ? schedule.timezone : undefined;
  const startsAt = ms(schedule.startsAt);
  const endsAt = ms(schedule.endsAt);
  return { cron, timezone, startsAt, endsAt, nextTickAt: nextTick(cron, now, { timezone, startsAt, endsAt }) };
}


/**
 * Turns schedules into runs. Embedded: fires due schedules itself; ticks missed while the platform
 * was down are reported as a `schedule.missed` event and not replayed, and the schedule resumes at
 * the next tick. On BullMQ each schedule is a job scheduler on its deployment's queue: a worker
 * hands each fire back here ({@link Scheduler.fired}), and the store records it once.
 */
export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(private readonly ctx: PlatformContext) {}

  /** A deployment's schedule as its newest version says; one paused stays paused (resume says otherwise). */
  async upsert(d: DeploymentRow, schedule: Record<string, unknown>): Promise<void> {
    const row = await this.ctx.store.upsertSchedule({ deploymentId: d.id, ...scheduleSettings(schedule) });
    if (row.enabled) await this.queueFires(row);
  }

  /**
   * Pause (no fires until resumed) or resume a deployment's schedule; false when it has none. A
   * resumed schedule fires from its next tick after now: what fell in the pause is not replayed.
   */
  async setEnabled(d: DeploymentRow, enabled: boolean): Promise<boolean> {
    const s = await this.ctx.store.getSchedule(d.id);
    if (!s) return false;
    if (!enabled) {
      await this.ctx.store.setScheduleEnabled(d.id, false);
      await this.ctx.queue.removeSchedule(s.id, d.id);
      return true;
    }
    await this.ctx.store.setScheduleEnabled(d.id, true, nextTick(s.cron, Date.now(), scheduleTimes(s)));
    const row = await this.ctx.store.getSchedule(d.id);
    if (row?.enabled) await this.queueFires(row);
    return true;
  }

  /**
   * Have the queue fire `row` from now on. The queue plans its first fire from its own clock, a
   * moment after the store's: the first tick owed a run is the one it planned, so a tick that came
   * due in between is not reported missed. Until the queue answers, no tick is owed (a first fire
   * may be delivered before the answer is written).
   */
  private async queueFires(row: ScheduleRow): Promise<void> {
    if (!this.ctx.queue.firesSchedules) return void (await this.ctx.queue.upsertSchedule(queueSchedule(row)));
    await this.ctx.store.setScheduleEnabled(row.deploymentId, true, null);
    let first: number | null | undefined;
    try {
      first = await this.ctx.queue.upsertSchedule(queueSchedule(row));
    } finally {
      // Not known (the setting waits for Redis): the store's own reckoning stands.
      await this.ctx.store.setScheduleEnabled(row.deploymentId, true, first === undefined ? row.nextTickAt : first);
    }
  }

  /** The deployment has no schedule any more (redeployed without one). */
  async remove(d: DeploymentRow): Promise<void> {
    const s = await this.ctx.store.getSchedule(d.id);
    if (!s) return;
    await this.ctx.queue.removeSchedule(s.id, d.id);
    await this.ctx.store.deleteSchedule(d.id);
  }

  /**
   * A fire of schedule `scheduleId` delivered by the queue: its run, created once however often
   * the fire is delivered; null when already fired or covered, or the schedule is gone or disabled.
   *
   * The store's schedule row keeps the account, so it holds across control-plane restarts and
   * nodes: `next_tick_at` is the first tick still owed a run. Ticks from there up to this fire never
   * came (the queue plans a schedule's next fire only as the last one is taken, so none are made
   * while the control plane is away) and are reported missed. A fire delivered late (held in a
   * worker while the control plane was away) makes one catch-up run that also stands for the ticks
   * that came due since, up to a few seconds ago: those are reported missed too, and their fires,
   * if still delivered, are dropped — as the embedded scheduler does after downtime.
   */
  async fired(scheduleId: string, deploymentId: string, firedAt: number, now = Date.now()): Promise<string | null> {
    if (firedAt > now + FIRE_SKEW_MS) {
      throw new NboxError("BAD_REQUEST", `a fire of schedule ${scheduleId} at ${new Date(firedAt).toISOString()} is in the future`, "Check the clocks of the worker and the control plane");
    }
    const { store } = this.ctx;
    // Two fires recorded at once (two delivery slots) both read the same owed tick: the loser reads again.
    for (let raced = 0; raced < 5; raced++) {
      const s = await store.getSchedule(deploymentId);
      if (!s || s.id !== scheduleId) {
        // A job scheduler whose schedule is gone (removed while Redis was away, say) stops here.
        await this.ctx.queue.removeSchedule(scheduleId, deploymentId).catch(() => {});
        return null;
      }
      if (!s.enabled || (s.lastTickAt !== null && firedAt <= s.lastTickAt)) return null;
      const d = await store.getDeployment(undefined, deploymentId);
      if (!d?.currentVersionId) return null;
      const opts = scheduleTimes(s);
      const owed = s.nextTickAt;
      // Ticks owed before this fire; none at or before the last one recorded (a first fire recorded
      // before the queue's first-fire answer was written, which then set the owed tick back).
      const gapAfter = owed === null ? null : Math.max(owed - 1, s.lastTickAt ?? -Infinity);
      const before = gapAfter === null || gapAfter >= firedAt - 1 ? { count: 0, last: firedAt } : ticksUpTo(s.cron, gapAfter, firedAt - 1, opts);
      const covered = firedAt < now - COVERED_FIRE_MS ? ticksUpTo(s.cron, firedAt, now - COVERED_FIRE_MS, opts) : { count: 0, last: firedAt };
      if (!(await store.markTick(s.id, covered.last, nextTick(s.cron, covered.last, opts), owed))) continue;
      const missed = before.count + covered.count;
      if (missed > 0) await this.reportMissed(s, d, missed, nextTick(s.cron, before.count > 0 ? gapAfter! : firedAt, opts)!);
      return this.createRun(s, d, d.currentVersionId);
    }
    return null;
  }

  /** Make sure the queue fires every enabled schedule (after a restart, or a Redis that lost its keys). */
  async syncQueue(): Promise<void> {
    for (const s of await this.ctx.store.listSchedules()) if (s.enabled) await this.ctx.queue.upsertSchedule(queueSchedule(s));
  }

  start(): void {
    // The queue fires schedules itself: nothing to tick here.
    if (this.ctx.queue.firesSchedules) {
      void this.syncQueue().catch((err) => console.error("[nbox scheduler] could not register schedules with the queue:", err));
      return;
    }
    const loop = async () => {
      if (this.busy) return;
      this.busy = true;
      try {
        await this.tick(Date.now());
      } catch (err) {
        console.error("[nbox scheduler]", err);
      } finally {
        this.busy = false;
      }
    };
    this.timer = setInterval(loop, TICK_MS);
    void loop();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async tick(now: number): Promise<number> {
    let fired = 0;
    for (const s of await this.ctx.store.dueSchedules(now)) {
      if (await this.fire(s, now)) fired++;
    }
    return fired;
  }

  private async fire(s: ScheduleRow, now: number): Promise<boolean> {
    const store = this.ctx.store;
    const due = Number(s.nextTickAt);
    const opts = scheduleTimes(s);
    const next = nextTick(s.cron, now, opts);
    // Claim the tick first (compare-and-set on next_tick_at), so two platform nodes never both fire it.
    if (!(await store.markTick(s.id, due, next))) return false;
    const d = await store.getDeployment(undefined, s.deploymentId);
    if (!d?.currentVersionId) return false;
    const missed = ticksUpTo(s.cron, due, now, opts).count;
    if (missed > 0) await this.reportMissed(s, d, missed, due);
    await this.createRun(s, d, d.currentVersionId);
    return true;
  }

  /** One `schedule.missed` event for `missed` ticks from `since` (epoch ms) on: they get no run. */
  private async reportMissed(s: ScheduleRow, d: DeploymentRow, missed: number, since: number): Promise<void> {
    await this.ctx.store.addEvent({
      workspaceId: d.workspaceId,
      deploymentId: d.id,
      kind: "schedule.missed",
      message: `${missed} tick(s) of "${s.cron}" for ${d.name} were missed while the platform was down; not replayed`,
      data: { missed, since: new Date(since).toISOString() },
    });
  }

  /** The run of one fire of `s`, queued. */
  private async createRun(s: ScheduleRow, d: DeploymentRow, currentVersionId: string): Promise<string> {
    const store = this.ctx.store;
    const v = await store.getVersion(currentVersionId);
    const r = ((v?.manifest as { resource?: Record<string, number> })?.resource ?? {}) as Record<string, number>;
    const run = await store.createRun({
      workspaceId: d.workspaceId,
      deploymentId: d.id,
      versionId: currentVersionId,
      args: [],
      scheduleId: s.id,
      maxRetries: r.maxRetries ?? this.ctx.config.defaultMaxRetries,
      timeoutMs: r.timeoutMs ?? null,
      retryBackoffMs: r.retryBackoffMs ?? this.ctx.config.defaultRetryBackoffMs,
    });
    await this.ctx.queue.enqueue([run]);
    return run.id;
  }
}
