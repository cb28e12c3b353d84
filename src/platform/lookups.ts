import { NboxError } from "../errors.ts";
import type { DeploymentRow, DeploymentVersionRow, WorkspaceRow } from "./store/schema.ts";
import type { Store } from "./store/index.ts";
import type { TokenInfo } from "./store/tokens-repo.ts";

// Every API and serving call needs the caller's token, workspace and the deployment's current
// version; reading them from the store each time was most of a warm call's latency. Rows live
// briefly so other platform nodes' changes show up soon; this node's own changes evict them at once.
const ROW_TTL_MS = 1_000;
// Verified tokens are kept until a revocation anywhere: this node's revokes clear them at once,
// other nodes' revokes move the store's token epoch, read at most this often (one tiny query).
const TOKEN_EPOCH_CHECK_MS = 1_000;
// A bound on anything that changes a token row other than a revoke.
const TOKEN_TTL_MS = 60_000;

class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();
  /** Bumped by clear(): a load that started before it must not store what it read. */
  private generation = 0;
  constructor(private readonly ttlMs: number, private readonly max = 10_000) {}
  async get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit && hit.until > Date.now()) return hit.value;
    const generation = this.generation;
    const value = await load();
    if (generation !== this.generation) return value;
    if (this.entries.size >= this.max) this.entries.clear();
    this.entries.set(key, { value, until: Date.now() + this.ttlMs });
    return value;
  }
  clear(): void {
    this.generation++;
    this.entries.clear();
  }
}

export interface CurrentVersion {
  deployment: DeploymentRow;
  version: DeploymentVersionRow;
}

export interface LookupsOptions {
  /** How often the store's token epoch is compared (other nodes' revocations); 0 = on every lookup. */
  tokenEpochCheckMs?: number;
}

/** Short-lived read-through caches for the rows on every request's path. */
export class Lookups {
  private readonly tokens = new TtlCache<TokenInfo | null>(TOKEN_TTL_MS);
  private readonly workspaces = new TtlCache<WorkspaceRow | null>(ROW_TTL_MS);
  private readonly versions = new TtlCache<CurrentVersion>(ROW_TTL_MS);
  private epoch: number | undefined;
  private epochCheckedAt = 0;
  private epochCheck: Promise<void> | undefined;
  private readonly epochCheckMs: number;

  constructor(private readonly store: Store, opts: LookupsOptions = {}) {
    this.epochCheckMs = opts.tokenEpochCheckMs ?? TOKEN_EPOCH_CHECK_MS;
  }

  /** The live token whose secret this is, or null (unknown, malformed or revoked). */
  async token(secret: string): Promise<TokenInfo | null> {
    await this.checkEpoch();
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

  /** After a revoke on this node (the store's epoch has moved on too, for the other nodes). */
  forgetTokens(): void {
    this.tokens.clear();
  }

  /** After a deploy or a new workspace on this node. */
  forgetDeployments(): void {
    this.versions.clear();
    this.workspaces.clear();
  }

  /** Drop cached tokens when another node revoked one since the last look (concurrent callers share one query). */
  private checkEpoch(): Promise<void> {
    if (Date.now() - this.epochCheckedAt < this.epochCheckMs && this.epoch !== undefined) return Promise.resolve();
    return (this.epochCheck ??= this.store
      .tokenEpoch()
      .then((epoch) => {
        if (epoch !== this.epoch) this.tokens.clear();
        this.epoch = epoch;
        this.epochCheckedAt = Date.now();
      })
      .finally(() => (this.epochCheck = undefined)));
  }
}
