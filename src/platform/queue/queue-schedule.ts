// A stored schedule as the queue and the cron arithmetic take it (the store keeps times as bigints).
import type { ScheduleRow } from "../store/schema.ts";
import type { QueueSchedule } from "./bullmq-queue.ts";

export const scheduleTimes = (s: ScheduleRow) => ({ timezone: s.timezone, startsAt: s.startsAt === null ? null : Number(s.startsAt), endsAt: s.endsAt === null ? null : Number(s.endsAt) });

export const queueSchedule = (s: ScheduleRow): QueueSchedule => ({ id: s.id, deploymentId: s.deploymentId, cron: s.cron, ...scheduleTimes(s) });
