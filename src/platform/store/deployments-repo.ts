import { and, asc, desc, eq, max, or, sql } from "drizzle-orm";
import type { RepoContext } from "./db.ts";
import { StoreError } from "./errors.ts";
import { storable } from "./storable-text.ts";
import { newId } from "./ids.ts";
import { checkName } from "./names.ts";
import {
  bundles,
  DEPLOYMENT_KINDS,
  DEPLOYMENT_TYPES,
  deployments,
  deploymentVersions,
  type DeploymentKind,
  type DeploymentRow,
  type DeploymentType,
  type DeploymentVersionRow,
} from "./schema.ts";

export interface UpsertDeploymentVersionInput {
  workspaceId: string;
  name: string;
  type: DeploymentType;
  kind: DeploymentKind;
  contentHash: string;
  lockfileHash?: string | null;
  manifest: Record<string, unknown>;
  bundleBytes: number;
}

export interface UpsertDeploymentVersionResult {
  deployment: DeploymentRow;
  version: DeploymentVersionRow;
  /** false when this content hash was already a version of the deployment (it becomes current again). */
  created: boolean;
}

export interface DeploymentsRepo {
  /** Create/update the deployment `name` and make the version with `contentHash` current. One transaction. */
  upsertDeploymentVersion(input: UpsertDeploymentVersionInput): Promise<UpsertDeploymentVersionResult>;
  /** By id (any workspace when workspaceId is undefined), or by name inside workspaceId. */
  getDeployment(workspaceId: string | undefined, nameOrId: string): Promise<DeploymentRow | null>;
  /** By name. */
  listDeployments(workspaceId?: string): Promise<DeploymentRow[]>;
  getVersion(id: string): Promise<DeploymentVersionRow | null>;
  /** Newest first. */
  listVersions(deploymentId: string): Promise<DeploymentVersionRow[]>;
  /** The size recorded for a stored bundle, null when none is recorded. */
  bundleSize(contentHash: string): Promise<number | null>;
  /** Idempotent. */
  recordBundle(contentHash: string, size: number): Promise<void>;
}

export function createDeploymentsRepo({ db, now }: RepoContext): DeploymentsRepo {
  return {
    async upsertDeploymentVersion(input) {
      checkName("deployment", input.name);
      if (!DEPLOYMENT_TYPES.includes(input.type)) throw new StoreError("BAD_INPUT", `unknown deployment type ${JSON.stringify(input.type)}`);
      if (!DEPLOYMENT_KINDS.includes(input.kind)) throw new StoreError("BAD_INPUT", `unknown deployment kind ${JSON.stringify(input.kind)}`);
      if (!input.contentHash) throw new StoreError("BAD_INPUT", "contentHash is required");
      return db.transaction(async (tx) => {
        const t = now();
        // Upsert locks the deployment row until commit, so version numbers below cannot race.
        const [dep] = await tx
          .insert(deployments)
          .values({
            id: newId("deployment", t),
            workspaceId: input.workspaceId,
            name: input.name,
            type: input.type,
            kind: input.kind,
            currentVersionId: null,
            createdAt: t,
            updatedAt: t,
          })
          .onConflictDoUpdate({
            target: [deployments.workspaceId, deployments.name],
            set: { type: input.type, kind: input.kind, updatedAt: t },
          })
          .returning();
        const deploymentId = dep!.id;

        let [version] = await tx
          .select()
          .from(deploymentVersions)
          .where(and(eq(deploymentVersions.deploymentId, deploymentId), eq(deploymentVersions.contentHash, input.contentHash)));
        const created = !version;
        if (!version) {
          const [top] = await tx
            .select({ n: max(deploymentVersions.number) })
            .from(deploymentVersions)
            .where(eq(deploymentVersions.deploymentId, deploymentId));
          [version] = await tx
            .insert(deploymentVersions)
            .values({
              id: newId("version", t),
              deploymentId,
              number: (top?.n ?? 0) + 1,
              contentHash: input.contentHash,
              lockfileHash: input.lockfileHash ?? null,
              // A type's literal (a `const` in a derived schema) may hold text the store cannot keep.
              manifest: storable(input.manifest),
              bundleBytes: input.bundleBytes,
              createdAt: t,
            })
            .returning();
        }
        const [deployment] = await tx
          .update(deployments)
          .set({ currentVersionId: version!.id })
          .where(eq(deployments.id, deploymentId))
          .returning();
        return { deployment: deployment!, version: version!, created };
      });
    },

    async getDeployment(workspaceId, nameOrId) {
      const where =
        workspaceId === undefined
          ? eq(deployments.id, nameOrId)
          : and(eq(deployments.workspaceId, workspaceId), or(eq(deployments.id, nameOrId), eq(deployments.name, nameOrId)));
      // A name never looks like an id of another deployment (ids have a `dep_` prefix and names are
      // unique per workspace), but prefer the id match if both hit.
      const rows = await db
        .select()
        .from(deployments)
        .where(where)
        .orderBy(sql`(${deployments.id} = ${nameOrId}) DESC`)
        .limit(1);
      return rows[0] ?? null;
    },

    async listDeployments(workspaceId) {
      return db
        .select()
        .from(deployments)
        .where(workspaceId === undefined ? undefined : eq(deployments.workspaceId, workspaceId))
        .orderBy(asc(deployments.name), asc(deployments.workspaceId));
    },

    async getVersion(id) {
      return (await db.select().from(deploymentVersions).where(eq(deploymentVersions.id, id)))[0] ?? null;
    },

    async listVersions(deploymentId) {
      return db
        .select()
        .from(deploymentVersions)
        .where(eq(deploymentVersions.deploymentId, deploymentId))
        .orderBy(desc(deploymentVersions.number));
    },

    async bundleSize(contentHash) {
      const rows = await db.select({ size: bundles.size }).from(bundles).where(eq(bundles.contentHash, contentHash));
      return rows.length > 0 ? Number(rows[0]!.size) : null;
    },

    async recordBundle(contentHash, size) {
      await db.insert(bundles).values({ contentHash, size, createdAt: now() }).onConflictDoNothing();
    },
  };
}
