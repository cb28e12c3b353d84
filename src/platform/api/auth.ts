import { createMiddleware } from "hono/factory";
import { NboxError } from "../../errors.ts";
import type { PlatformContext } from "../context.ts";
import type { WorkspaceRow } from "../store/schema.ts";
import { RUNTIME_TOKEN_PREFIX, type TokenInfo } from "../store/tokens-repo.ts";
import type { ApiEnv } from "./env.ts";

/** Routes only worker tokens may call. */
const WORKER_API = "/api/v1/worker/";

/** Bearer token → principal; 401 when missing, malformed, unknown or revoked. */
export function bearerAuth(ctx: PlatformContext) {
  return createMiddleware<ApiEnv>(async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) throw new NboxError("UNAUTHORIZED", "missing bearer token", "Send `Authorization: Bearer <token>` (see `nbx token create`)");
    const principal = await ctx.lookups.token(m[1]!);
    if (!principal) throw new NboxError("UNAUTHORIZED", "invalid or revoked token");
    if (principal.scope === "serving") throw new NboxError("FORBIDDEN", "a serving token can only call its serving");
    // Workers speak only the worker API, and nothing else accepts their tokens.
    if ((principal.scope === "worker") !== c.req.path.startsWith(WORKER_API)) {
      throw new NboxError("FORBIDDEN", principal.scope === "worker" ? "a worker token can only call the worker API" : "the worker API needs a worker token");
    }
    c.set("principal", principal);
    await next();
  });
}

/**
 * A token the platform minted for user processes (`runtime:<worker>`). It works like a workspace
 * token, but does not manage other tokens: code in a job (or a dependency of it) must not lock out
 * the people and servings of its workspace by revoking or rotating their tokens.
 */
export function isRuntimeToken(p: TokenInfo): boolean {
  return p.scope === "workspace" && p.name.startsWith(RUNTIME_TOKEN_PREFIX);
}

export function requireAdmin(p: TokenInfo): void {
  if (p.scope !== "admin") throw new NboxError("FORBIDDEN", "this needs an admin token", "Use the admin token of `nbx up` (its data folder's admin-token file), or ask whoever runs the platform");
}

/**
 * The workspace a request addresses. Admin tokens may create it on first use (deploy);
 * workspace tokens reach only their own workspace (403 otherwise).
 */
export async function resolveWorkspace(ctx: PlatformContext, p: TokenInfo, name: string, opts: { create?: boolean } = {}): Promise<WorkspaceRow> {
  let ws = await ctx.lookups.workspace(name);
  if (p.scope !== "admin") {
    if (!ws || ws.id !== p.workspaceId) throw new NboxError("FORBIDDEN", `this token is scoped to another workspace than "${name}"`);
    return ws;
  }
  if (!ws) {
    if (!opts.create) throw new NboxError("NOT_FOUND", `workspace "${name}" not found`, "Name an existing one (`nbx workspace list`; --workspace in the CLI), or create it: `nbx workspace create <name>`, or deploy into it");
    ws = await ctx.store.ensureWorkspace(name);
    ctx.lookups.forgetDeployments();
  }
  return ws;
}

/** Check a workspace-scoped token may see a row of workspace `workspaceId`. */
export function checkWorkspaceAccess(p: TokenInfo, workspaceId: string): void {
  if (p.scope !== "admin" && p.workspaceId !== workspaceId) throw new NboxError("FORBIDDEN", "this token is scoped to another workspace");
}

/**
 * The workspace a listing is limited to: the one named, else the token's own; undefined (every
 * workspace) only for an admin token that names none.
 */
export async function listedWorkspaceId(ctx: PlatformContext, p: TokenInfo, name: string | undefined): Promise<string | undefined> {
  if (name !== undefined && name !== "") return (await resolveWorkspace(ctx, p, name)).id;
  return p.scope === "admin" ? undefined : p.workspaceId!;
}
