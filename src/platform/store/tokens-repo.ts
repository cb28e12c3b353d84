import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { and, asc, eq, isNull } from "drizzle-orm";
import type { RepoContext } from "./db.ts";
import { StoreError } from "./errors.ts";
import { newId } from "./ids.ts";
import { deployments, tokens, TOKEN_SCOPES, type TokenRow, type TokenScope } from "./schema.ts";

export const TOKEN_PREFIX = "nbx_";

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
  /** The secret is returned once and never stored (only its sha256). */
  createToken(input: CreateTokenInput): Promise<{ id: string; secret: string; token: TokenInfo }>;
  /** The live (not revoked) token whose secret this is, or null. */
  verifyToken(secret: string): Promise<TokenInfo | null>;
  /** All tokens (revoked ones too, see `revokedAt`); only those of one workspace when given. */
  listTokens(workspaceId?: string): Promise<TokenInfo[]>;
  getToken(id: string): Promise<TokenInfo | null>;
  /** true if it was live and is now revoked. */
  revokeToken(id: string): Promise<boolean>;
}

export const hashSecret = (secret: string): string => createHash("sha256").update(secret).digest("hex");

const info = ({ tokenHash: _hash, ...rest }: TokenRow): TokenInfo => rest;

export function createTokensRepo({ db, now }: RepoContext): TokensRepo {
  async function resolveScope(input: CreateTokenInput): Promise<{ workspaceId: string | null; servingId: string | null }> {
    const workspaceId = input.workspaceId ?? null;
    const servingId = input.servingId ?? null;
    switch (input.scope) {
      case "admin":
        if (workspaceId !== null || servingId !== null) {
          throw new StoreError("BAD_INPUT", "an admin token belongs to no workspace and no serving");
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

  return {
    async createToken(input) {
      const owner = await resolveScope(input);
      const secret = TOKEN_PREFIX + randomBytes(32).toString("base64url");
      const t = now();
      const [row] = await db
        .insert(tokens)
        .values({
          id: newId("token", t),
          name: input.name,
          scope: input.scope,
          ...owner,
          tokenHash: hashSecret(secret),
          createdAt: t,
          revokedAt: null,
        })
        .returning();
      return { id: row!.id, secret, token: info(row!) };
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
      const rows = await db
        .update(tokens)
        .set({ revokedAt: now() })
        .where(and(eq(tokens.id, id), isNull(tokens.revokedAt)))
        .returning({ id: tokens.id });
      return rows.length > 0;
    },
  };
}
