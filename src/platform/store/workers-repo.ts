import { and, asc, count, desc, eq, gte, inArray, isNull, isNotNull, lt, or, sql } from "drizzle-orm";
import type { RepoContext } from "./db.ts";
import { newId } from "./ids.ts";
import { runs, workers, type WorkerRow, type WorkerSandbox } from "./schema.ts";
import { runStatusIs } from "./run-status-is.ts";

export interface RegisterWorkerInput {
  name: string;
  address: string | null;
  slots: number;
  local: boolean;
  tokenId: string;
  sandbox?: WorkerSandbox | null;
}

export interface WorkersRepo {
  registerWorker(input: RegisterWorkerInput): Promise<WorkerRow>;
  /** Record a heartbeat; false when the worker is unknown or was declared gone (it must register again). */
  touchWorker(id: string): Promise<boolean>;
  getWorker(id: string): Promise<WorkerRow | null>;
  /** Workers not gone, oldest registration first. */
  listLiveWorkers(): Promise<WorkerRow[]>;
  /** Mark workers gone (left, or silent since before `silentSince`); returns the ids it marked. */
  markWorkersGone(opts: { ids?: string[]; silentSince?: number }): Promise<string[]>;
  /** Live workers, then those gone (only since `goneSince` when given); newest registration first in each. */
  listWorkers(opts?: { goneSince?: number }): Promise<WorkerRow[]>;
  /** How many runs each worker holds running (workers holding none are left out). */
  runningByWorker(): Promise<Map<string, number>>;
}

export function createWorkersRepo({ db, now }: RepoContext): WorkersRepo {
  return {
    async registerWorker(input) {
      const t = now();
      const [row] = await db
        .insert(workers)
        .values({ id: newId("worker", t), ...input, sandbox: input.sandbox ?? null, registeredAt: t, lastSeenAt: t, goneAt: null })
        .returning();
      return row!;
    },

    async touchWorker(id) {
      const rows = await db
        .update(workers)
        .set({ lastSeenAt: now() })
        .where(and(eq(workers.id, id), isNull(workers.goneAt)))
        .returning({ id: workers.id });
      return rows.length > 0;
    },

    async getWorker(id) {
      return (await db.select().from(workers).where(eq(workers.id, id)))[0] ?? null;
    },

    async listLiveWorkers() {
      return db.select().from(workers).where(isNull(workers.goneAt)).orderBy(asc(workers.registeredAt));
    },

    async markWorkersGone({ ids, silentSince }) {
      const conds = [isNull(workers.goneAt)];
      if (ids) {
        if (ids.length === 0) return [];
        conds.push(inArray(workers.id, ids));
      }
      if (silentSince !== undefined) conds.push(lt(workers.lastSeenAt, silentSince));
      const rows = await db.update(workers).set({ goneAt: now() }).where(and(...conds)).returning({ id: workers.id });
      return rows.map((r) => r.id);
    },

    async listWorkers({ goneSince } = {}) {
      return db
        .select()
        .from(workers)
        .where(goneSince === undefined ? undefined : or(isNull(workers.goneAt), gte(workers.goneAt, goneSince)))
        .orderBy(desc(sql`${workers.goneAt} IS NULL`), desc(workers.registeredAt));
    },

    async runningByWorker() {
      // The partial index on running runs' worker answers this without reading other runs.
      const rows = await db
        .select({ workerId: runs.workerId, n: count() })
        .from(runs)
        .where(and(runStatusIs("running"), isNotNull(runs.workerId)))
        .groupBy(runs.workerId);
      return new Map(rows.map((r) => [r.workerId!, Number(r.n)]));
    },
  };
}
