import { and, desc, eq, lt } from "drizzle-orm";
import type { RepoContext } from "./db.ts";
import { listLimit } from "./defaults.ts";
import { newId } from "./ids.ts";
import { storable } from "./storable-text.ts";
import { events, type EventKind, type EventRow } from "./schema.ts";

export interface AddEventInput {
  /** null/absent = platform-wide. */
  workspaceId?: string | null;
  deploymentId?: string | null;
  runId?: string | null;
  kind: EventKind;
  message: string;
  data?: Record<string, unknown> | null;
}

export interface ListEventsInput {
  workspaceId?: string;
  deploymentId?: string;
  kind?: EventKind;
  limit?: number;
  /** Cursor: only events older than this event id. */
  before?: string;
}

export interface EventsRepo {
  addEvent(input: AddEventInput): Promise<EventRow>;
  /** Newest first. */
  listEvents(input?: ListEventsInput): Promise<EventRow[]>;
}

export function createEventsRepo({ db, now }: RepoContext): EventsRepo {
  return {
    async addEvent(input) {
      const t = now();
      const [row] = await db
        .insert(events)
        .values({
          id: newId("event", t),
          workspaceId: input.workspaceId ?? null,
          deploymentId: input.deploymentId ?? null,
          runId: input.runId ?? null,
          // Messages and data often quote user code (a serving's crash): text the store cannot keep is replaced.
          kind: storable(input.kind),
          message: storable(input.message),
          data: storable(input.data ?? null),
          ts: t,
        })
        .returning();
      return row!;
    },

    async listEvents(input = {}) {
      return db
        .select()
        .from(events)
        .where(
          and(
            input.workspaceId === undefined ? undefined : eq(events.workspaceId, input.workspaceId),
            input.deploymentId === undefined ? undefined : eq(events.deploymentId, input.deploymentId),
            input.kind === undefined ? undefined : eq(events.kind, input.kind),
            input.before === undefined ? undefined : lt(events.id, input.before),
          ),
        )
        .orderBy(desc(events.id))
        .limit(listLimit(input.limit));
    },
  };
}
