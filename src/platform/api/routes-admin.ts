import { Hono } from "hono";
import { NboxError } from "../../errors.ts";
import type { PlatformContext } from "../context.ts";
import { requireAdmin, resolveWorkspace } from "./auth.ts";
import type { ApiEnv } from "./env.ts";
import { jsonBody } from "./errors.ts";

/** Workspaces, tokens, schedules and events. */
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
      requireAdmin(c.get("principal"));
      const ok = await ctx.store.revokeToken(c.req.param("id"));
      ctx.lookups.forgetTokens();
      if (!ok) throw new NboxError("NOT_FOUND", `no live token ${c.req.param("id")}`);
      return c.json({ revoked: true });
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
