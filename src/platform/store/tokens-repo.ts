import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { and, asc, desc, eq, inArray, isNotNull, isNull, like, lt, ne, sql, type SQL } from "drizzle-orm";
import type { Db, RepoContext } from "./db.ts";
import { StoreError } from "./errors.ts";
import { newId } from "./ids.ts";
import { deployments, platformKeys, tokenEpoch, tokens, TOKEN_SCOPES, type TokenRow, type TokenScope } from "./schema.ts";

export const TOKEN_PREFIX = "nbx_";
/**
 * Names of the tokens the control plane mints for a worker's user processes (`runtime:<workerId>`,
 * `createRuntimeToken`). Reserved: `createToken` refuses them, so a revoked token under such a name
 * was machine-made and may be deleted (`deleteRevokedRuntimeTokens`); tokens people made never are.
 */
export const RUNTIME_TOKEN_PREFIX = "runtime:";

/** A token as the rest of the platform sees it: never the hash. */
export type TokenInfo = Omit<TokenRow, "tokenHash">;

export interface CreateTokenInput {
  scope: TokenScope;
  name: string;
  /** Required for `workspace`; must be absent for `admin`; derived from the serving for `serving`. */
  workspaceId?: string | null;
  /** Required for `serving`: the serving's deployment id. */
  servingId?: string | null;
}

export interface TokensRepo {
  /** The secret the control plane sends with requests it proxies to worker `workerId` (derived: any node gets the same). */
  workerProxySecret(workerId: string): Promise<string>;
  /** The secret is returned once and never stored (only its sha256). */
  createToken(input: CreateTokenInput): Promise<{ id: string; secret: string; token: TokenInfo }>;
  /**
   * A workspace token for the user processes of `workspaceId` on worker `workerId`, named
   * `runtime:<workerId>`. Of the earlier ones of that worker and workspace that were revoked, only
   * the newest `keepRevoked` stay (a job revoking its own token in a loop leaves no trail of rows).
   * `revokeMintedBefore` (epoch ms): live ones of that worker and workspace minted before then are
   * revoked (`revoked` names them): a control plane that restarted no longer holds their secrets.
   */
  createRuntimeToken(
    workerId: string,
    workspaceId: string,
    opts?: { keepRevoked?: number; revokeMintedBefore?: number },
  ): Promise<{ id: string; secret: string; token: TokenInfo; revoked: string[] }>;
  /** Delete up to `limit` runtime tokens revoked before `before` (epoch ms); how many went. Live ones and tokens people made stay. */
  deleteRevokedRuntimeTokens(before: number, limit: number): Promise<number>;
  /** The live (not revoked) token whose secret this is, or null. */
  verifyToken(secret: string): Promise<TokenInfo | null>;
  /** All tokens (revoked ones too, see `revokedAt`); only those of one workspace when given. */
  listTokens(workspaceId?: string): Promise<TokenInfo[]>;
  getToken(id: string): Promise<TokenInfo | null>;
  /** true if it was live and is now revoked (the revocation epoch then moves on). */
  revokeToken(id: string): Promise<boolean>;
  /**
   * A serving's current token: the same one on every call (it survives redeploys), minted when the
   * serving has none. `rotate` mints a new one. Minting revokes every other live token of the serving.
   */
  servingToken(servingId: string, opts?: { rotate?: boolean; name?: string }): Promise<ServingToken>;
  /** Moves on with every revocation: a cache of verified tokens is stale once this differs from what it saw. */
  tokenEpoch(): Promise<number>;
}

export interface ServingToken {
  id: string;
  secret: string;
  token: TokenInfo;
  /** Ids of the tokens this call revoked (the previous current one on rotate). */
  revoked: string[];
}

export const hashSecret = (secret: string): string => createHash("sha256").update(secret).digest("hex");

const info = ({ tokenHash: _hash, ...rest }: TokenRow): TokenInfo => rest;

const SERVING_KEY = "serving-token";
/** Worker proxy secrets kept derived (one per worker id seen). */
const MAX_KEPT_PROXY_SECRETS = 1_000;

/**
 * A serving token's secret is derived from its id with the platform's key, so every deploy can hand
 * out the current one again while the tokens table keeps only hashes. The key sits in the store:
 * whoever can read the store can derive serving tokens (each calls one serving only); rotating
 * replaces a serving's token.
 */
const servingSecret = (key: Buffer, tokenId: string): string => TOKEN_PREFIX + createHmac("sha256", key).update(`serving-token:${tokenId}`).digest("base64url");

async function bumpEpoch(db: Db): Promise<void> {
  await db
    .update(tokenEpoch)
    .set({ value: sql`${tokenEpoch.value} + 1` })
    .where(eq(tokenEpoch.id, 1));
}

/** Revoke the live tokens `which` picks, at `at`; the revocation epoch moves on if any were. Their ids. */
async function revokeLive(db: Db, which: SQL | undefined, at: number): Promise<string[]> {
  const rows = await db.update(tokens).set({ revokedAt: at }).where(and(which, isNull(tokens.revokedAt))).returning({ id: tokens.id });
  if (rows.length > 0) await bumpEpoch(db);
  return rows.map((r) => r.id);
}

export function createTokensRepo({ db, now }: RepoContext): TokensRepo {
  let key: Promise<Buffer> | undefined;
  const proxySecrets = new Map<string, string>();
  /** The derivation key: made once per store by whichever node needs it first. */
  const servingKey = (): Promise<Buffer> =>
    (key ??= (async () => {
      await db.insert(platformKeys).values({ name: SERVING_KEY, value: randomBytes(32).toString("hex"), createdAt: now() }).onConflictDoNothing();
      const [row] = await db.select().from(platformKeys).where(eq(platformKeys.name, SERVING_KEY));
      return Buffer.from(row!.value, "hex");
    })().catch((err) => {
      key = undefined;
      throw err;
    }));

  async function resolveScope(input: CreateTokenInput): Promise<{ workspaceId: string | null; servingId: string | null }> {
    const workspaceId = input.workspaceId ?? null;
    const servingId = input.servingId ?? null;
    switch (input.scope) {
      case "admin":
      case "worker":
        if (workspaceId !== null || servingId !== null) {
          throw new StoreError("BAD_INPUT", `${input.scope === "admin" ? "an admin" : "a worker"} token belongs to no workspace and no serving`);
        }
        return { workspaceId, servingId };
      case "workspace":
        if (workspaceId === null) throw new StoreError("BAD_INPUT", "a workspace token needs workspaceId");
        if (servingId !== null) throw new StoreError("BAD_INPUT", "a workspace token has no servingId");
        return { workspaceId, servingId };
      case "serving": {
        if (servingId === null) throw new StoreError("BAD_INPUT", "a serving token needs servingId (its deployment id)");
        const [dep] = await db.select().from(deployments).where(eq(deployments.id, servingId));
        if (!dep) throw new StoreError("NOT_FOUND", `no deployment ${servingId}`);
        if (workspaceId !== null && workspaceId !== dep.workspaceId) {
          throw new StoreError("BAD_INPUT", `deployment ${servingId} is not in workspace ${workspaceId}`);
        }
        return { workspaceId: dep.workspaceId, servingId };
      }
      default:
        throw new StoreError("BAD_INPUT", `unknown token scope ${JSON.stringify(input.scope)}; one of ${TOKEN_SCOPES.join(", ")}`);
    }
  }

  async function insertToken(db: Db, name: string, scope: TokenScope, owner: { workspaceId: string | null; servingId: string | null }) {
    const secret = TOKEN_PREFIX + randomBytes(32).toString("base64url");
    const t = now();
    const [row] = await db
      .insert(tokens)
      .values({ id: newId("token", t), name, scope, ...owner, tokenHash: hashSecret(secret), createdAt: t, revokedAt: null })
      .returning();
    return { id: row!.id, secret, token: info(row!) };
  }

  return {
    async workerProxySecret(workerId) {
      // Asked on every proxied serving call: an HMAC each time cost more than the rest of the routing.
      let secret = proxySecrets.get(workerId);
      if (secret === undefined) {
        secret = createHmac("sha256", await servingKey()).update(`worker-proxy:${workerId}`).digest("base64url");
        if (proxySecrets.size >= MAX_KEPT_PROXY_SECRETS) proxySecrets.clear(); // workers come and go: stay bounded
        proxySecrets.set(workerId, secret);
      }
      return secret;
    },

    async createToken(input) {
      if (typeof input.name === "string" && input.name.startsWith(RUNTIME_TOKEN_PREFIX)) {
        throw new StoreError("BAD_INPUT", `token names starting with ${JSON.stringify(RUNTIME_TOKEN_PREFIX)} are reserved for the tokens the platform mints for user processes`);
      }
      return insertToken(db, input.name, input.scope, await resolveScope(input));
    },

    async createRuntimeToken(workerId, workspaceId, opts = {}) {
      const name = RUNTIME_TOKEN_PREFIX + workerId;
      const made = await insertToken(db, name, "workspace", await resolveScope({ scope: "workspace", workspaceId, name }));
      let revoked: string[] = [];
      if (opts.revokeMintedBefore !== undefined) {
        const before = and(eq(tokens.name, name), eq(tokens.workspaceId, workspaceId), eq(tokens.scope, "workspace"), lt(tokens.createdAt, opts.revokeMintedBefore), ne(tokens.id, made.id));
        revoked = await db.transaction((tx) => revokeLive(tx, before, now()));
      }
      if (opts.keepRevoked !== undefined) {
        const older = db
          .select({ id: tokens.id })
          .from(tokens)
          .where(and(eq(tokens.name, name), eq(tokens.workspaceId, workspaceId), eq(tokens.scope, "workspace"), isNotNull(tokens.revokedAt)))
          .orderBy(desc(tokens.id))
          .offset(Math.max(0, opts.keepRevoked));
        await db.delete(tokens).where(inArray(tokens.id, older));
      }
      return { ...made, revoked };
    },

    async deleteRevokedRuntimeTokens(before, limit) {
      const due = db
        .select({ id: tokens.id })
        .from(tokens)
        .where(and(like(tokens.name, `${RUNTIME_TOKEN_PREFIX}%`), eq(tokens.scope, "workspace"), isNotNull(tokens.revokedAt), lt(tokens.revokedAt, before)))
        .orderBy(asc(tokens.id))
        .limit(limit);
      const gone = await db.delete(tokens).where(inArray(tokens.id, due)).returning({ id: tokens.id });
      return gone.length;
    },

    async verifyToken(secret) {
      if (typeof secret !== "string" || !secret.startsWith(TOKEN_PREFIX) || secret.length > 200) return null;
      const hash = hashSecret(secret);
      const [row] = await db
        .select()
        .from(tokens)
        .where(and(eq(tokens.tokenHash, hash), isNull(tokens.revokedAt)));
      if (!row) return null;
      // The lookup is by a hash of a 256-bit secret, so its timing says nothing useful; compare anyway.
      const ok = timingSafeEqual(Buffer.from(row.tokenHash, "hex"), Buffer.from(hash, "hex"));
      return ok ? info(row) : null;
    },

    async listTokens(workspaceId) {
      const rows = await db
        .select()
        .from(tokens)
        .where(workspaceId === undefined ? undefined : eq(tokens.workspaceId, workspaceId))
        .orderBy(asc(tokens.id));
      return rows.map(info);
    },

    async getToken(id) {
      const [row] = await db.select().from(tokens).where(eq(tokens.id, id));
      return row ? info(row) : null;
    },

    async revokeToken(id) {
      return db.transaction(async (tx) => (await revokeLive(tx, eq(tokens.id, id), now())).length > 0);
    },

    async servingToken(servingId, opts = {}) {
      const k = await servingKey();
      return db.transaction(async (tx) => {
        // One mint at a time per serving (two nodes deploying it at once): lock its deployment row.
        const [dep] = await tx.select().from(deployments).where(eq(deployments.id, servingId)).for("update");
        if (!dep) throw new StoreError("NOT_FOUND", `no deployment ${servingId}`);
        if (dep.type !== "serving") throw new StoreError("BAD_INPUT", `deployment ${dep.name} is a ${dep.type}, not a serving`);
        const live = await tx
          .select()
          .from(tokens)
          .where(and(eq(tokens.servingId, servingId), isNull(tokens.revokedAt)))
          .orderBy(desc(tokens.id));
        if (!opts.rotate) {
          // Tokens minted before secrets were derived cannot be handed out again: they are not current.
          const current = live.find((r) => r.scope === "serving" && r.tokenHash === hashSecret(servingSecret(k, r.id)));
          if (current) return { id: current.id, secret: servingSecret(k, current.id), token: info(current), revoked: [] };
        }
        const t = now();
        const revoked = live.length > 0 ? await revokeLive(tx, inArray(tokens.id, live.map((r) => r.id)), t) : [];
        const id = newId("token", t);
        const secret = servingSecret(k, id);
        const [row] = await tx
          .insert(tokens)
          .values({ id, name: opts.name ?? `serving ${dep.name}`, scope: "serving", workspaceId: dep.workspaceId, servingId, tokenHash: hashSecret(secret), createdAt: t, revokedAt: null })
          .returning();
        return { id, secret, token: info(row!), revoked };
      });
    },

    async tokenEpoch() {
      const [row] = await db.select({ value: tokenEpoch.value }).from(tokenEpoch).where(eq(tokenEpoch.id, 1));
      return row?.value ?? 0;
    },
  };
}
