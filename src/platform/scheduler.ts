import { CronExpressionParser } from "cron-parser";
import { NboxError } from "../errors.ts";
import type { PlatformContext } from "./context.ts";
import type { DeploymentRow, ScheduleRow } from "./store/schema.ts";

const TICK_MS = 1000;

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
 * Fires due schedules by creating runs. Ticks missed while the platform was down are
 * reported as a `schedule.missed` event and not replayed; the schedule resumes at the next tick.
 */
export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(private readonly ctx: PlatformContext) {}

  async upsert(d: DeploymentRow, schedule: Record<string, unknown>): Promise<void> {
    await this.ctx.store.upsertSchedule({ deploymentId: d.id, ...scheduleSettings(schedule), enabled: true });
  }

  start(): void {
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
    const opts = { timezone: s.timezone, startsAt: s.startsAt === null ? null : Number(s.startsAt), endsAt: s.endsAt === null ? null : Number(s.endsAt) };
    const next = nextTick(s.cron, now, opts);
    // Claim the tick first (compare-and-set on next_tick_at), so two platform nodes never both fire it.
    if (!(await store.markTick(s.id, due, next))) return false;
    const d = await store.getDeployment(undefined, s.deploymentId);
    if (!d?.currentVersionId) return false;
    let missed = 0;
    for (let t = nextTick(s.cron, due, opts); t !== null && t <= now && missed < 1000; t = nextTick(s.cron, t, opts)) missed++;
    if (missed > 0) {
      await store.addEvent({
        workspaceId: d.workspaceId,
        deploymentId: d.id,
        kind: "schedule.missed",
        message: `${missed} tick(s) of "${s.cron}" for ${d.name} were missed while the platform was down; not replayed`,
        data: { missed, since: new Date(due).toISOString() },
      });
    }
    const v = await store.getVersion(d.currentVersionId);
    const r = ((v?.manifest as { resource?: Record<string, number> })?.resource ?? {}) as Record<string, number>;
    const run = await store.createRun({
      workspaceId: d.workspaceId,
      deploymentId: d.id,
      versionId: d.currentVersionId,
      args: [],
      scheduleId: s.id,
      maxRetries: r.maxRetries ?? this.ctx.config.defaultMaxRetries,
      timeoutMs: r.timeoutMs ?? null,
      retryBackoffMs: r.retryBackoffMs ?? this.ctx.config.defaultRetryBackoffMs,
    });
    await this.ctx.queue.enqueue([run]);
    return true;
  }
}
