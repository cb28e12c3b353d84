// Declarations of the run and serving-listing routes.
import { createRoute, z } from "@hono/zod-openapi";
import { RUN_STATUSES } from "./vocabulary.ts";
import { boolQuery, failures, intQuery, json, jsonBody, platformId } from "./helpers.ts";
import { LogLine, Run, Serving, Span } from "./schemas.ts";

/** One long-poll may watch this many runs (remote map keeps its window below it). */
export const MAX_WAIT_IDS = 5_000;

const runId = platformId("a run id");
const idParams = z.object({ id: runId });
const oneRun = (what: string) => json(z.object({ run: Run }), what);
const withArgsQuery = boolQuery("false: the run in the answer leaves out its arguments").optional();
const status = z.enum(RUN_STATUSES, { error: (iss) => `unknown status ${JSON.stringify(iss.input)}; use one of ${RUN_STATUSES.join(", ")}` });

export const runContract = {
  "GET /runs": createRoute({
    method: "get",
    path: "/runs",
    summary: "List runs, newest first (a workspace token: its own workspace's unless it names it)",
    request: {
      query: z.object({
        workspace: z.string().optional(),
        status: status.optional(),
        deployment: z.string().optional().openapi({ description: "name or id" }),
        limit: intQuery("at most this many (default 50)").optional(),
        before: z.string().optional().openapi({ description: "a run id: only runs older than it" }),
      }),
    },
    responses: { 200: json(z.object({ runs: z.array(Run) }), "Runs"), ...failures },
  }),
  "POST /runs/wait": createRoute({
    method: "post",
    path: "/runs/wait",
    summary: "Long-poll many runs: the finished ones, as soon as any is (or none at the deadline)",
    request: {
      body: jsonBody(
        z.object({
          ids: z.array(runId).min(1).max(MAX_WAIT_IDS).optional().openapi({ description: "every run to watch; may be left out with a cursor (the watch then keeps what it watched, less the runs it answered, plus `added`)" }),
          timeoutMs: z.number().optional(),
          cursor: z.string().max(64).optional().openapi({ description: "the cursor of the previous poll: only runs finished since (and `added`) are read again" }),
          added: z.array(runId).max(MAX_WAIT_IDS).optional().openapi({ description: "ids the previous poll did not watch" }),
          withArgs: z.boolean().optional().openapi({ description: "false: the runs in the answer leave out their arguments" }),
        }),
      ),
    },
    responses: {
      200: json(
        z.object({
          runs: z.array(Run),
          cursor: z.string(),
          watchLost: z.literal(true).optional().openapi({ description: "the poll named no ids and its cursor's watch is gone: poll again with every id in `ids`" }),
        }),
        "The finished runs among ids, and the cursor for the next poll",
      ),
      ...failures,
    },
  }),
  "GET /runs/{id}": createRoute({ method: "get", path: "/runs/{id}", summary: "Get a run", request: { params: idParams }, responses: { 200: oneRun("The run"), ...failures } }),
  "GET /runs/{id}/wait": createRoute({
    method: "get",
    path: "/runs/{id}/wait",
    summary: "Long-poll until the run ends",
    request: { params: idParams, query: z.object({ timeoutMs: intQuery("give up after this long (capped by the platform)").optional(), withArgs: withArgsQuery }) },
    responses: { 200: oneRun("The run, finished or as it is at the deadline"), ...failures },
  }),
  "GET /runs/{id}/logs": createRoute({
    method: "get",
    path: "/runs/{id}/logs",
    summary: "Run log lines",
    request: {
      params: idParams,
      query: z.object({ after: intQuery("only lines after this seq").optional(), follow: z.string().optional().openapi({ description: "set: hold the request until new lines or the end of the run" }) }),
    },
    responses: { 200: json(z.object({ logs: z.array(LogLine), done: z.boolean() }), "Lines, and whether the run has ended"), ...failures },
  }),
  "GET /runs/{id}/spans": createRoute({
    method: "get",
    path: "/runs/{id}/spans",
    summary: "Spans of a run",
    request: { params: idParams },
    responses: { 200: json(z.object({ spans: z.array(Span) }), "Spans"), ...failures },
  }),
  "POST /runs/{id}/cancel": createRoute({
    method: "post",
    path: "/runs/{id}/cancel",
    summary: "Cancel a run",
    request: { params: idParams, query: z.object({ timeoutMs: intQuery("answer once the run has stopped, waiting at most this long").optional(), withArgs: withArgsQuery }) },
    responses: { 200: oneRun("The run after the request"), ...failures },
  }),
  "POST /runs/{id}/retry": createRoute({
    method: "post",
    path: "/runs/{id}/retry",
    summary: "Run again with the same arguments (of a batched run: all its calls, or the one `call` names, as a run of its own)",
    request: {
      params: idParams,
      body: jsonBody(z.object({ call: z.number().int().min(0).optional().openapi({ description: "a batched run's call (0-based) to run again alone" }) }), false),
    },
    responses: { 201: oneRun("The new run"), ...failures },
  }),
  "GET /servings": createRoute({
    method: "get",
    path: "/servings",
    summary: "List servings and their status",
    request: { query: z.object({ workspace: z.string().optional() }) },
    responses: { 200: json(z.object({ servings: z.array(Serving) }), "Servings"), ...failures },
  }),
  "GET /workspaces/{ws}/servings/{name}/logs": createRoute({
    method: "get",
    path: "/workspaces/{ws}/servings/{name}/logs",
    summary: "Recent output lines of a serving's process",
    request: { params: z.object({ ws: z.string().min(1), name: z.string().min(1) }) },
    responses: { 200: json(z.object({ logs: z.array(z.string()) }), "Lines"), ...failures },
  }),
} as const;
