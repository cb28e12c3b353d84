import { and, asc, eq, isNotNull, isNull, lt, lte, or } from "drizzle-orm";
import type { RepoContext } from "./db.ts";
import { STORE_DEFAULTS } from "./defaults.ts";
import { newId } from "./ids.ts";
import { deployments, schedules, workspaces, type ScheduleRow } from "./schema.ts";

export interface UpsertScheduleInput {
  deploymentId: string;
  cron: string;
  timezone?: string;
  startsAt?: number | null;
  endsAt?: number | null;
  enabled?: boolean;
  /** First tick (computed by the caller from cron/timezone/startsAt); null = none. */
  nextTickAt: number | null;
}

export interface SchedulesRepo {
  /** One schedule per deployment: creates it or replaces its settings (keeps last_tick_at, and `enabled` unless given). */
  upsertSchedule(input: UpsertScheduleInput): Promise<ScheduleRow>;
  getSchedule(deploymentId: string): Promise<ScheduleRow | null>;
  /** Enabled schedules whose next tick is at or before `now` (default: the store clock), oldest tick first. */
  dueSchedules(now?: number): Promise<ScheduleRow[]>;
  /**
   * Record that the tick at `tickAt` (the due next_tick_at, not the wall clock) fired, and set the
   * next one. Compare-and-set: false if that tick was already recorded, so when several schedulers
   * race only the one that gets true creates the run. With `expectedNextTickAt` it is also false
   * when the next tick is no longer the one the caller read (another fire was recorded meanwhile).
   */
  markTick(id: string, tickAt: number, nextTickAt: number | null, expectedNextTickAt?: number | null): Promise<boolean>;
  /** Pause or resume; a resume sets the next tick (`nextTickAt`), so the paused time is not a backlog. */
  setScheduleEnabled(deploymentId: string, enabled: boolean, nextTickAt?: number | null): Promise<boolean>;
  deleteSchedule(deploymentId: string): Promise<boolean>;
  /** Schedules with their deployment's and workspace's names, by id. */
  listSchedules(filter?: { workspaceId?: string; deploymentId?: string }): Promise<ListedSchedule[]>;
}

export type ListedSchedule = ScheduleRow & { deployment: string; workspace: string };

export function createSchedulesRepo({ db, now }: RepoContext): SchedulesRepo {
  return {
    async upsertSchedule(input) {
      const t = now();
      const settings = {
        cron: input.cron,
        timezone: input.timezone ?? STORE_DEFAULTS.scheduleTimezone,
        startsAt: input.startsAt ?? null,
        endsAt: input.endsAt ?? null,
        nextTickAt: input.nextTickAt,
        updatedAt: t,
      };
      // A new schedule is enabled unless said otherwise; an existing one keeps its state (a pause) unless said.
      const [row] = await db
        .insert(schedules)
        .values({ id: newId("schedule", t), deploymentId: input.deploymentId, lastTickAt: null, createdAt: t, ...settings, enabled: input.enabled ?? true })
        .onConflictDoUpdate({ target: schedules.deploymentId, set: { ...settings, ...(input.enabled === undefined ? {} : { enabled: input.enabled }) } })
        .returning();
      return row!;
    },

    async getSchedule(deploymentId) {
      return (await db.select().from(schedules).where(eq(schedules.deploymentId, deploymentId)))[0] ?? null;
    },

    async dueSchedules(at) {
      return db
        .select()
        .from(schedules)
        .where(and(eq(schedules.enabled, true), isNotNull(schedules.nextTickAt), lte(schedules.nextTickAt, at ?? now())))
        .orderBy(asc(schedules.nextTickAt), asc(schedules.id));
    },

    async markTick(id, tickAt, nextTickAt, expectedNextTickAt) {
      const sameNext = expectedNextTickAt === undefined ? undefined : expectedNextTickAt === null ? isNull(schedules.nextTickAt) : eq(schedules.nextTickAt, expectedNextTickAt);
      const rows = await db
        .update(schedules)
        .set({ lastTickAt: tickAt, nextTickAt, updatedAt: now() })
        .where(and(eq(schedules.id, id), or(isNull(schedules.lastTickAt), lt(schedules.lastTickAt, tickAt)), sameNext))
        .returning({ id: schedules.id });
      return rows.length > 0;
    },

    async setScheduleEnabled(deploymentId, enabled, nextTickAt) {
      const rows = await db
        .update(schedules)
        .set({ enabled, updatedAt: now(), ...(nextTickAt === undefined ? {} : { nextTickAt }) })
        .where(eq(schedules.deploymentId, deploymentId))
        .returning({ id: schedules.id });
      return rows.length > 0;
    },

    async deleteSchedule(deploymentId) {
      const rows = await db.delete(schedules).where(eq(schedules.deploymentId, deploymentId)).returning({ id: schedules.id });
      return rows.length > 0;
    },

    async listSchedules(filter = {}) {
      const rows = await db
        .select({ s: schedules, deployment: deployments.name, workspace: workspaces.name })
        .from(schedules)
        .innerJoin(deployments, eq(deployments.id, schedules.deploymentId))
        .innerJoin(workspaces, eq(workspaces.id, deployments.workspaceId))
        .where(
          and(
            filter.workspaceId === undefined ? undefined : eq(deployments.workspaceId, filter.workspaceId),
            filter.deploymentId === undefined ? undefined : eq(schedules.deploymentId, filter.deploymentId),
          ),
        )
        .orderBy(asc(schedules.id));
      return rows.map((r) => ({ ...r.s, deployment: r.deployment, workspace: r.workspace }));
    },
  };
}
