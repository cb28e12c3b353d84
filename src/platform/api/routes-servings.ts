import type { PlatformContext } from "../context.ts";
import type { ServingHost } from "../router/serving-control.ts";
import { listedWorkspaceId, resolveWorkspace } from "./auth.ts";
import { NboxError } from "../../errors.ts";
import { runContract as r } from "../../contract/routes-runs.ts";
import { router } from "./validation.ts";

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(Number(ms)).toISOString());

/** `GET /servings[?workspace=]`: every serving the token can see, with URL, status, restarts and request count. */
export function servingRoutes(ctx: PlatformContext, servings: ServingHost | undefined) {
  return router()
    .openapi(r["GET /workspaces/{ws}/servings/{name}/logs"], async (c) => {
      // A serving's recent output (stdout/stderr of its current process), e.g. to see why it crashed.
      const { ws: wsName, name } = c.req.valid("param");
      const ws = await resolveWorkspace(ctx, c.get("principal"), wsName);
      const d = await ctx.store.getDeployment(ws.id, name);
      if (!d || d.type !== "serving") throw new NboxError("NOT_FOUND", `serving "${name}" not found in workspace "${ws.name}"`);
      return c.json({ logs: servings?.logs?.(d.id) ?? [] }, 200);
    })
    .openapi(r["GET /servings"], async (c) => {
      const p = c.get("principal");
      const workspaceId = await listedWorkspaceId(ctx, p, c.req.valid("query").workspace);
      await servings?.flush?.();
      const rows = await ctx.store.listServings(workspaceId === undefined ? {} : { workspaceId });
      const out = [];
      const names = new Map<string, string>(); // workspace names, read once per listing
      for (const s of rows) {
        const d = await ctx.store.getDeployment(undefined, s.deploymentId);
        if (!d) continue;
        if (!names.has(d.workspaceId)) names.set(d.workspaceId, (await ctx.store.getWorkspace(d.workspaceId))?.name ?? d.workspaceId);
        out.push({
          id: d.id,
          workspace: names.get(d.workspaceId)!,
          name: d.name,
          url: s.urlPath ? `${ctx.publicUrl}${s.urlPath}` : null,
          status: s.status,
          restarts: s.restarts,
          requests: s.requestCount,
          versionId: s.versionId,
          pid: s.pid,
          lastError: s.lastError,
          updatedAt: iso(s.updatedAt),
        });
      }
      return c.json({ servings: out }, 200);
    });
}
