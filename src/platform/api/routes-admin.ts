import { NboxError } from "../../errors.ts";
import type { PlatformContext } from "../context.ts";
import { checkWorkspaceAccess, isRuntimeToken, listedWorkspaceId, requireAdmin, resolveWorkspace } from "./auth.ts";
import { adminContract as r } from "../../contract/routes-admin.ts";
import { router } from "./validation.ts";
import { presentEvent, presentSchedule, presentToken, presentWorkspace } from "./present.ts";
import { findDeployment } from "./routes-deployments.ts";

/** Workspaces, tokens (incl. a serving's current token), schedules and events. */
export function adminRoutes(ctx: PlatformContext) {
  return router()
    .openapi(r["GET /whoami"], async (c) => {
      const p = c.get("principal");
      // Worker and serving tokens never get past the API's gate, so a principal here is one of these two.
      const scope = p.scope === "admin" ? "admin" : "workspace";
      const workspace = p.workspaceId ? await ctx.store.getWorkspace(p.workspaceId) : null;
      return c.json({ token: { id: p.id, name: p.name, scope }, workspace: workspace && presentWorkspace(workspace) }, 200);
    })
    .openapi(r["GET /workspaces"], async (c) => {
      const p = c.get("principal");
      const all = await ctx.store.listWorkspaces();
      return c.json({ workspaces: all.filter((w) => p.scope === "admin" || w.id === p.workspaceId).map(presentWorkspace) }, 200);
    })
    .openapi(r["POST /workspaces"], async (c) => {
      requireAdmin(c.get("principal"));
      const { name } = c.req.valid("json");
      return c.json({ workspace: presentWorkspace(await ctx.store.ensureWorkspace(name)) }, 201);
    })
    .openapi(r["GET /tokens"], async (c) => {
      const p = c.get("principal");
      return c.json({ tokens: (await ctx.store.listTokens(p.scope === "admin" ? undefined : p.workspaceId!)).map(presentToken) }, 200);
    })
    .openapi(r["POST /tokens"], async (c) => {
      requireAdmin(c.get("principal"));
      const body = c.req.valid("json");
      const name = body.name ?? "token";
      if (body.admin === true && body.worker === true) throw new NboxError("BAD_REQUEST", "body: admin and worker exclude each other");
      if (body.admin === true || body.worker === true) {
        const t = await ctx.store.createToken({ scope: body.admin ? "admin" : "worker", name });
        return c.json({ token: presentToken(t.token), secret: t.secret }, 201);
      }
      if (body.workspace === undefined) throw new NboxError("BAD_REQUEST", "body.workspace: expected string (the token's workspace), or { admin: true } for an admin token");
      const ws = await resolveWorkspace(ctx, c.get("principal"), body.workspace, { create: true });
      const t = await ctx.store.createToken({ scope: "workspace", workspaceId: ws.id, name });
      return c.json({ token: presentToken(t.token), secret: t.secret }, 201);
    })
    .openapi(r["DELETE /tokens/{id}"], async (c) => {
      // Admin: any token. Workspace token: the workspace's own tokens (its servings' too), never an admin token.
      const { id } = c.req.valid("param");
      const t = await ctx.store.getToken(id);
      if (!t) throw new NboxError("NOT_FOUND", `no token ${id}`, "See `nbx token list`");
      const p = c.get("principal");
      if (t.workspaceId === null) requireAdmin(p);
      else checkWorkspaceAccess(p, t.workspaceId);
      if (isRuntimeToken(p) && t.id !== p.id) throw new NboxError("FORBIDDEN", "the token of user code may revoke only itself", "Revoke other tokens with an admin or workspace token: `nbx token revoke <id>`");
      const ok = await ctx.store.revokeToken(id);
      // At once on this node; other nodes see the store's token epoch move.
      ctx.lookups.forgetTokens();
      if (!ok) throw new NboxError("NOT_FOUND", `no live token ${id}`, "See `nbx token list`");
      return c.json({ revoked: true as const }, 200);
    })
    .openapi(r["POST /workspaces/{ws}/servings/{name}/token"], async (c) => {
      // Rotate: a new current token for the serving; the previous one stops working at once.
      const { ws: wsName, name } = c.req.valid("param");
      if (isRuntimeToken(c.get("principal"))) throw new NboxError("FORBIDDEN", "the token of user code may not rotate a serving's token", "Rotate it with an admin or workspace token: `nbx token rotate <serving>`");
      const ws = await resolveWorkspace(ctx, c.get("principal"), wsName);
      const d = await ctx.store.getDeployment(ws.id, name);
      if (!d || d.type !== "serving") throw new NboxError("NOT_FOUND", `serving "${name}" not found in workspace "${ws.name}"`, "See `nbx servings`");
      const t = await ctx.store.servingToken(d.id, { rotate: true, name: `serving ${ws.name}/${d.name}` });
      ctx.lookups.forgetTokens();
      return c.json({ token: presentToken(t.token), secret: t.secret, revoked: t.revoked }, 201);
    })
    .openapi(r["GET /schedules"], async (c) => {
      const p = c.get("principal");
      const schedules = await ctx.store.listSchedules({ workspaceId: await listedWorkspaceId(ctx, p, c.req.valid("query").workspace) });
      return c.json({ schedules: schedules.map(presentSchedule) }, 200);
    })
    .openapi(r["POST /workspaces/{ws}/deployments/{name}/schedule"], async (c) => {
      const params = c.req.valid("param");
      const { enabled } = c.req.valid("json");
      const ws = await resolveWorkspace(ctx, c.get("principal"), params.ws);
      const d = await findDeployment(ctx, ws.id, ws.name, params.name);
      const noSchedule = () => new NboxError("NOT_FOUND", `deployment "${d.name}" in workspace "${ws.name}" has no schedule`, "Deploy it with one: `nbx deploy <file>:<export> --cron \"*/5 * * * *\"`");
      if (!ctx.scheduler || !(await ctx.scheduler.setEnabled(d, enabled))) throw noSchedule();
      const [schedule] = await ctx.store.listSchedules({ deploymentId: d.id });
      if (!schedule) throw noSchedule();
      return c.json({ schedule: presentSchedule(schedule) }, 200);
    })
    .openapi(r["GET /events"], async (c) => {
      const p = c.get("principal");
      const q = c.req.valid("query");
      const events = await ctx.store.listEvents({ workspaceId: await listedWorkspaceId(ctx, p, q.workspace), kind: q.kind });
      return c.json({ events: events.map(presentEvent) }, 200);
    });
}
