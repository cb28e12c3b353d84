import { NboxError } from "../errors.ts";
import type { DeploymentRow, DeploymentVersionRow, WorkspaceRow } from "./store/schema.ts";
import type { Store } from "./store/index.ts";
import type { TokenInfo } from "./store/tokens-repo.ts";

// Every API call needs the caller's token, workspace and the deployment's current version;
// reading them from the store each time was most of a warm call's latency. Entries live briefly
// so other platform nodes' changes show up soon; this node's own changes evict them at once.
const TOKEN_TTL_MS = 5_000;
const ROW_TTL_MS = 1_000;

class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();
  constructor(private readonly ttlMs: number, private readonly max = 10_000) {}
  async get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit && hit.until > Date.now()) return hit.value;
    const value = await load();
    if (this.entries.size >= this.max) this.entries.clear();
    this.entries.set(key, { value, until: Date.now() + this.ttlMs });
    return value;
  }
  clear(): void {
    this.entries.clear();
  }
}

export interface CurrentVersion {
  deployment: DeploymentRow;
  version: DeploymentVersionRow;
}

/** Short-lived read-through caches for the rows on every request's path. */
export class Lookups {
  private readonly tokens = new TtlCache<TokenInfo | null>(TOKEN_TTL_MS);
  private readonly workspaces = new TtlCache<WorkspaceRow | null>(ROW_TTL_MS);
  private readonly versions = new TtlCache<CurrentVersion>(ROW_TTL_MS);

  constructor(private readonly store: Store) {}

  token(secret: string): Promise<TokenInfo | null> {
    return this.tokens.get(secret, () => this.store.verifyToken(secret));
  }

  workspace(name: string): Promise<WorkspaceRow | null> {
    return this.workspaces.get(name, () => this.store.getWorkspaceByName(name));
  }

  /** A job's deployment and current version; `find` loads (or 404s) the deployment. */
  currentVersion(workspaceId: string, nameOrId: string, find: () => Promise<DeploymentRow>): Promise<CurrentVersion> {
    return this.versions.get(`${workspaceId}\u0000${nameOrId}`, async () => {
      const deployment = await find();
      const version = deployment.currentVersionId ? await this.store.getVersion(deployment.currentVersionId) : null;
      if (!version) throw new NboxError("NOT_FOUND", `deployment "${deployment.name}" has no version`);
      return { deployment, version };
    });
  }

  /** After a revoke on this node. */
  forgetTokens(): void {
    this.tokens.clear();
  }

  /** After a deploy or a new workspace on this node. */
  forgetDeployments(): void {
    this.versions.clear();
    this.workspaces.clear();
  }
}
