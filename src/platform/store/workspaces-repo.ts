import { asc, eq } from "drizzle-orm";
import type { RepoContext } from "./db.ts";
import { newId } from "./ids.ts";
import { checkName } from "./names.ts";
import { workspaces, type WorkspaceRow } from "./schema.ts";

export interface WorkspacesRepo {
  /** The workspace with this name, created if missing (safe under concurrency). */
  ensureWorkspace(name: string): Promise<WorkspaceRow>;
  getWorkspaceByName(name: string): Promise<WorkspaceRow | null>;
  getWorkspace(id: string): Promise<WorkspaceRow | null>;
  /** By name. */
  listWorkspaces(): Promise<WorkspaceRow[]>;
}

export function createWorkspacesRepo({ db, now }: RepoContext): WorkspacesRepo {
  const getWorkspaceByName = async (name: string) =>
    (await db.select().from(workspaces).where(eq(workspaces.name, name)))[0] ?? null;

  return {
    getWorkspaceByName,
    async getWorkspace(id) {
      return (await db.select().from(workspaces).where(eq(workspaces.id, id)))[0] ?? null;
    },
    async ensureWorkspace(name) {
      checkName("workspace", name);
      const existing = await getWorkspaceByName(name);
      if (existing) return existing;
      const t = now();
      const [inserted] = await db
        .insert(workspaces)
        .values({ id: newId("workspace", t), name, createdAt: t })
        .onConflictDoNothing({ target: workspaces.name })
        .returning();
      // Lost a race with another creator: theirs is the one.
      return inserted ?? (await getWorkspaceByName(name))!;
    },
    async listWorkspaces() {
      return db.select().from(workspaces).orderBy(asc(workspaces.name));
    },
  };
}
