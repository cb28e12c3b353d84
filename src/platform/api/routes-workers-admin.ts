import type { z } from "@hono/zod-openapi";
import type { PlatformContext } from "../context.ts";
import type { WorkerRow } from "../store/schema.ts";
import { requireAdmin } from "./auth.ts";
import { workersAdminContract as r, type WorkerInfo } from "../../contract/routes-workers-admin.ts";
import { router } from "./validation.ts";
import { isoTime } from "./present.ts";

/** Gone workers stay listed this long (all of them with ?all=true): every `nbx up` start registers a new local worker. */
const GONE_LISTED_MS = 24 * 60 * 60 * 1000;

function presentWorker(w: WorkerRow, running: number): z.output<typeof WorkerInfo> {
  return {
    id: w.id,
    name: w.name,
    slots: w.slots,
    address: w.address,
    local: w.local,
    sandbox: w.sandbox?.kind ?? null,
    registeredAt: isoTime(w.registeredAt),
    lastSeenAt: isoTime(w.lastSeenAt),
    alive: w.goneAt === null,
    goneAt: w.goneAt === null ? null : isoTime(w.goneAt),
    running,
  };
}

/** The workers registered with the control plane, for operators. */
export function workersAdminRoutes(ctx: PlatformContext) {
  return router().openapi(r["GET /workers"], async (c) => {
    requireAdmin(c.get("principal"));
    const all = c.req.valid("query").all === "true";
    const [rows, running] = await Promise.all([ctx.store.listWorkers(all ? {} : { goneSince: Date.now() - GONE_LISTED_MS }), ctx.store.runningByWorker()]);
    return c.json({ workers: rows.map((w) => presentWorker(w, running.get(w.id) ?? 0)) }, 200);
  });
}
