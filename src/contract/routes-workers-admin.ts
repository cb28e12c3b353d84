// Declaration of the operators' view of the workers: shared infrastructure, so admin tokens only.
import { createRoute, z } from "@hono/zod-openapi";
import { failures, json } from "./helpers.ts";

const isoTime = z.string().openapi({ format: "date-time" });

export const WorkerInfo = z
  .object({
    id: z.string(),
    name: z.string(),
    slots: z.number().int(),
    /** Where the control plane reaches its serving listener. */
    address: z.string().nullable(),
    local: z.boolean().openapi({ description: "started by `nbx up` itself" }),
    sandbox: z.enum(["bwrap", "none"]).nullable().openapi({ description: "how it runs user code, when the answering node knows (it registered there)" }),
    registeredAt: isoTime,
    lastSeenAt: isoTime,
    alive: z.boolean(),
    goneAt: isoTime.nullable().openapi({ description: "when it left or was declared dead" }),
    running: z.number().int().openapi({ description: "runs it holds running" }),
  })
  .openapi("Worker");

export const workersAdminContract = {
  "GET /workers": createRoute({
    method: "get",
    path: "/workers",
    summary: "List workers: live ones, and those gone in the last day (admin)",
    request: { query: z.object({ all: z.enum(["true", "false"]).optional().openapi({ description: "true: also workers gone longer ago" }) }) },
    responses: { 200: json(z.object({ workers: z.array(WorkerInfo) }), "Workers, live ones first"), ...failures },
  }),
} as const;
