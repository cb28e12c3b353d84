import { Hono } from "hono";
import { NboxError } from "../../errors.ts";
import type { PlatformContext } from "../context.ts";
import { checkWorkspaceAccess, requireAdmin, resolveWorkspace } from "./auth.ts";
import type { ApiEnv } from "./env.ts";
import { jsonBody } from "./errors.ts";

/** Workspaces, tokens (incl. a serving's current token), schedules and events. */
export function adminRoutes(ctx: PlatformContext) {
  return new Hono<ApiEnv>()
    .get("/workspaces", async (c) => {
      const p = c.get("principal");
      const all = await ctx.store.listWorkspaces();
      return c.json({ workspaces: all.filter((w) => p.scope === "admin" || w.id === p.workspaceId) });
    })
    .post("/workspaces", async (c) => {
      requireAdmin(c.get("principal"));
      const { name } = await jsonBody<{ name?: unknown }>(c);
      if (typeof name !== "string") throw new NboxError("BAD_REQUEST", "body must be { name: string }");
      return c.json({ workspace: await ctx.store.ensureWorkspace(name) }, 201);
    })
    .get("/tokens", async (c) => {
      const p = c.get("principal");
      return c.json({ tokens: await ctx.store.listTokens(p.scope === "admin" ? undefined : p.workspaceId!) });
    })
    .post("/tokens", async (c) => {
      requireAdmin(c.get("principal"));
      const body = await jsonBody<{ workspace?: unknown; name?: unknown; admin?: unknown }>(c);
      const name = typeof body.name === "string" ? body.name : "token";
      if (body.admin === true) {
        const t = await ctx.store.createToken({ scope: "admin", name });
        return c.json({ token: t.token, secret: t.secret }, 201);
      }
      if (typeof body.workspace !== "string") throw new NboxError("BAD_REQUEST", "body must be { workspace: string, name?: string } (or { admin: true })");
      const ws = await resolveWorkspace(ctx, c.get("principal"), body.workspace, { create: true });
      const t = await ctx.store.createToken({ scope: "workspace", workspaceId: ws.id, name });
      return c.json({ token: t.token, secret: t.secret }, 201);
    })
    .delete("/tokens/:id", async (c) => {
      // Admin: any token. Workspace token: the workspace's own tokens (its servings' too), never an admin token.
      const id = c.req.param("id");
      const t = await ctx.store.getToken(id);
      if (!t) throw new NboxError("NOT_FOUND", `no token ${id}`, "See `nbx token list`");
      if (t.workspaceId === null) requireAdmin(c.get("principal"));
      else checkWorkspaceAccess(c.get("principal"), t.workspaceId);
      const ok = await ctx.store.revokeToken(id);
      // At once on this node; other nodes see the store's token epoch move.
      ctx.lookups.forgetTokens();
      if (!ok) throw new NboxError("NOT_FOUND", `no live token ${id}`, "See `nbx token list`");
      return c.json({ revoked: true });
    })
    .post("/workspaces/:ws/servings/:name/token", async (c) => {
      // Rotate: a new current token for the serving; the previous one stops working at once.
      const ws = await resolveWorkspace(ctx, c.get("principal"), c.req.param("ws"));
      const name = c.req.param("name");
      const d = await ctx.store.getDeployment(ws.id, name);
      if (!d || d.type !== "serving") throw new NboxError("NOT_FOUND", `serving "${name}" not found in workspace "${ws.name}"`, "See `nbx servings`");
      const t = await ctx.store.servingToken(d.id, { rotate: true, name: `serving ${ws.name}/${d.name}` });
      ctx.lookups.forgetTokens();
      return c.json({ token: t.token, secret: t.secret, revoked: t.revoked }, 201);
    })
    .get("/schedules", async (c) => {
      const p = c.get("principal");
      const rows = await ctx.store.listSchedules();
      return c.json({ schedules: p.scope === "admin" ? rows : rows.filter((s: any) => s.workspaceId === p.workspaceId) });
    })
    .get("/events", async (c) => {
      const p = c.get("principal");
      const wsName = c.req.query("workspace");
      const ws = wsName ? await resolveWorkspace(ctx, p, wsName) : undefined;
      if (!ws && p.scope !== "admin") throw new NboxError("BAD_REQUEST", "workspace tokens must pass ?workspace=<name>");
      return c.json({ events: await ctx.store.listEvents({ workspaceId: ws?.id, kind: c.req.query("kind") }) });
    });
}
