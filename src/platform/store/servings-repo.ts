import { asc, eq, sql } from "drizzle-orm";
import type { RepoContext } from "./db.ts";
import { storable } from "./storable-text.ts";
import { StoreError } from "./errors.ts";
import { deployments, SERVING_STATUSES, servings, type ServingRow, type ServingStatus } from "./schema.ts";

/** Fields left undefined keep their stored value (or their default on first insert). */
export interface ServingStatusInput {
  deploymentId: string;
  status: ServingStatus;
  versionId?: string | null;
  urlPath?: string | null;
  pid?: number | null;
  workerId?: string | null;
  lastError?: string | null;
  /** Set the restart counter. */
  restarts?: number;
  /** Add one to the restart counter (a crash was just restarted). */
  incrementRestarts?: boolean;
}

export interface ServingsRepo {
  upsertServingStatus(input: ServingStatusInput): Promise<ServingRow>;
  getServing(deploymentId: string): Promise<ServingRow | null>;
  listServings(filter?: { workspaceId?: string }): Promise<ServingRow[]>;
  /** Deployment ids of the servings placed on worker `workerId`. */
  servingsOn(workerId: string): Promise<string[]>;
  /** Add `n` (default 1) to request_count; batch counts in memory if calls are hot. false if no such serving. */
  incrementRequests(deploymentId: string, n?: number): Promise<boolean>;
}

export function createServingsRepo({ db, now }: RepoContext): ServingsRepo {
  return {
    async upsertServingStatus(input) {
      if (!SERVING_STATUSES.includes(input.status)) {
        throw new StoreError("BAD_INPUT", `unknown serving status ${JSON.stringify(input.status)}`);
      }
      const t = now();
      const patch = {
        status: input.status,
        updatedAt: t,
        ...(input.versionId !== undefined && { versionId: input.versionId }),
        ...(input.urlPath !== undefined && { urlPath: input.urlPath }),
        ...(input.pid !== undefined && { pid: input.pid }),
        ...(input.workerId !== undefined && { workerId: input.workerId }),
        // A crash message comes from user code: it may hold text the store cannot keep.
        ...(input.lastError !== undefined && { lastError: storable(input.lastError) }),
      };
      const restarts =
        input.restarts !== undefined
          ? { restarts: input.restarts }
          : input.incrementRestarts
            ? { restarts: sql`${servings.restarts} + 1` }
            : {};
      const [row] = await db
        .insert(servings)
        .values({
          deploymentId: input.deploymentId,
          versionId: null,
          urlPath: null,
          pid: null,
          workerId: null,
          lastError: null,
          requestCount: 0,
          ...patch,
          restarts: input.restarts ?? (input.incrementRestarts ? 1 : 0),
        })
        .onConflictDoUpdate({ target: servings.deploymentId, set: { ...patch, ...restarts } })
        .returning();
      return row!;
    },

    async getServing(deploymentId) {
      return (await db.select().from(servings).where(eq(servings.deploymentId, deploymentId)))[0] ?? null;
    },

    async listServings(filter = {}) {
      if (filter.workspaceId === undefined) return db.select().from(servings).orderBy(asc(servings.deploymentId));
      const rows = await db
        .select({ s: servings })
        .from(servings)
        .innerJoin(deployments, eq(deployments.id, servings.deploymentId))
        .where(eq(deployments.workspaceId, filter.workspaceId))
        .orderBy(asc(deployments.name));
      return rows.map((r) => r.s);
    },

    async servingsOn(workerId) {
      return (await db.select({ id: servings.deploymentId }).from(servings).where(eq(servings.workerId, workerId))).map((r) => r.id);
    },

    async incrementRequests(deploymentId, n = 1) {
      const rows = await db
        .update(servings)
        .set({ requestCount: sql`${servings.requestCount} + ${n}` })
        .where(eq(servings.deploymentId, deploymentId))
        .returning({ id: servings.deploymentId });
      return rows.length > 0;
    },
  };
}
