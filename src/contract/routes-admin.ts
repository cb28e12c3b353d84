// Declarations of the workspace, token, schedule, event and health routes.
import { createRoute, z } from "@hono/zod-openapi";
import { failures, json, jsonBody } from "./helpers.ts";
import { NewToken, PlatformEvent, Schedule, Token, Workspace } from "./schemas.ts";

const wsParams = z.object({ ws: z.string().min(1) });

export const adminContract = {
  "GET /health": createRoute({ method: "get", path: "/health", summary: "Liveness (no token needed)", security: [], responses: { 200: json(z.object({ ok: z.literal(true) }), "Up") } }),
  "GET /whoami": createRoute({
    method: "get",
    path: "/whoami",
    summary: "The calling token: its scope and, for a workspace token, its workspace (where commands go when they name none)",
    responses: {
      200: json(z.object({ token: z.object({ id: z.string(), name: z.string(), scope: z.enum(["admin", "workspace"]) }), workspace: Workspace.nullable() }), "The token"),
      ...failures,
    },
  }),
  "GET /workspaces": createRoute({
    method: "get",
    path: "/workspaces",
    summary: "List workspaces visible to the token",
    responses: { 200: json(z.object({ workspaces: z.array(Workspace) }), "Workspaces"), ...failures },
  }),
  "POST /workspaces": createRoute({
    method: "post",
    path: "/workspaces",
    summary: "Create a workspace (admin)",
    request: { body: jsonBody(z.object({ name: z.string().min(1) })) },
    responses: { 201: json(z.object({ workspace: Workspace }), "Created (or already there)"), ...failures },
  }),
  "GET /tokens": createRoute({
    method: "get",
    path: "/tokens",
    summary: "List tokens",
    responses: { 200: json(z.object({ tokens: z.array(Token) }), "Tokens (revoked ones too)"), ...failures },
  }),
  "POST /tokens": createRoute({
    method: "post",
    path: "/tokens",
    summary: "Create a workspace token, an admin token with { admin: true } or a worker token with { worker: true } (admin)",
    request: { body: jsonBody(z.object({ workspace: z.string().min(1).optional(), name: z.string().optional(), admin: z.boolean().optional(), worker: z.boolean().optional() }), false) },
    responses: { 201: json(NewToken, "The token; its secret is shown once"), ...failures },
  }),
  "DELETE /tokens/{id}": createRoute({
    method: "delete",
    path: "/tokens/{id}",
    summary: "Revoke a token (admin: any; workspace token: its workspace's tokens); effective at once",
    request: { params: z.object({ id: z.string().min(1) }) },
    responses: { 200: json(z.object({ revoked: z.literal(true) }), "Revoked"), ...failures },
  }),
  "POST /workspaces/{ws}/servings/{name}/token": createRoute({
    method: "post",
    path: "/workspaces/{ws}/servings/{name}/token",
    summary: "Rotate the serving's token: a new current one (returned once), the old one revoked at once",
    request: { params: wsParams.extend({ name: z.string().min(1) }) },
    responses: { 201: json(NewToken.extend({ revoked: z.array(z.string()) }), "The new token and the ids of the revoked ones"), ...failures },
  }),
  "GET /schedules": createRoute({
    method: "get",
    path: "/schedules",
    summary: "List schedules (a workspace token: its own workspace's)",
    request: { query: z.object({ workspace: z.string().optional() }) },
    responses: { 200: json(z.object({ schedules: z.array(Schedule) }), "Schedules"), ...failures },
  }),
  "POST /workspaces/{ws}/deployments/{name}/schedule": createRoute({
    method: "post",
    path: "/workspaces/{ws}/deployments/{name}/schedule",
    summary: "Pause (enabled: false) or resume (enabled: true) a deployment's schedule; a resumed one fires from its next tick on, missed ticks are not replayed",
    request: { params: wsParams.extend({ name: z.string().min(1) }), body: jsonBody(z.object({ enabled: z.boolean() })) },
    responses: { 200: json(z.object({ schedule: Schedule }), "The schedule as it is now"), ...failures },
  }),
  "GET /events": createRoute({
    method: "get",
    path: "/events",
    summary: "Platform events (restarts, missed schedule ticks)",
    request: { query: z.object({ workspace: z.string().optional(), kind: z.string().optional() }) },
    responses: { 200: json(z.object({ events: z.array(PlatformEvent) }), "Events"), ...failures },
  }),
} as const;
