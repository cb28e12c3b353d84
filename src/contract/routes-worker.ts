// Declarations of the worker API: the only way a worker (`nbx worker`, or the local one `nbx up`
// starts) reaches the control plane. Worker tokens may call these routes and nothing else.
import { createRoute, z } from "@hono/zod-openapi";
import { LOG_STREAMS, SERVING_STATUSES, TERMINAL_RUN_STATUSES } from "./vocabulary.ts";
import { failure, failures, hashParam, json, jsonBody, platformId } from "./helpers.ts";
import { WireValue } from "./schemas.ts";
import { MAX_CALLS_PER_RUN } from "./batched-calls.ts";

/** Bumped when the worker API changes incompatibly: a worker of another version is refused at registration. */
export const WORKER_PROTOCOL = 4;

/** Runs one report may claim. */
export const MAX_CLAIM_RUNS = 1_000;

const workerId = z.string().min(1);
const epochMs = z.number();

/** A run handed to a worker: everything it needs to execute one attempt. */
export const ClaimedRun = z
  .object({
    id: z.string(),
    attempt: z.number().int(),
    maxRetries: z.number().int(),
    retryBackoffMs: z.number().int(),
    timeoutMs: z.number().int().nullable(),
    workspaceId: z.string(),
    deploymentId: z.string(),
    versionId: z.string(),
    args: WireValue,
    /** Batched calls (absent or null: one call): `args` is the list of their argument lists. */
    calls: z.number().int().nullable().optional(),
    traceparent: z.string().nullable(),
    cancelRequested: z.boolean(),
  })
  .openapi("ClaimedRun");

// An error's fields and a span come from user code (an error's `name` may be a number, a span's
// attributes anything it set). A report refused for one of them is dropped by its worker with every
// finish in it, and those runs run again: an error's fields are kept as text, a span that is not one
// is dropped (spans are diagnostics).
const ReportedError = z.looseObject({ name: z.coerce.string(), message: z.coerce.string(), stack: z.coerce.string().optional() });

const SpanIn = z.looseObject({
  traceId: z.string(),
  spanId: z.string(),
  parentSpanId: z.string().nullable().optional(),
  op: z.string(),
  name: z.string(),
  start: z.number(),
  end: z.number(),
  status: z.enum(["ok", "error"]),
  error: ReportedError.nullable().optional(),
  attributes: z.record(z.string(), z.unknown()),
  runId: z.string().nullable().optional(),
  servingId: z.string().nullable().optional(),
});

const LogLineIn = z.object({ stream: z.enum(LOG_STREAMS), line: z.string(), ts: epochMs });

export const WorkerReport = z.object({
  workerId,
  /** Runs whose user code started (a crash from now on costs the attempt); `attempt`: the attempt that started (an earlier worker sends none). */
  started: z.array(z.object({ id: z.string(), startedAt: epochMs, attempt: z.number().int().optional() })).default([]),
  /**
   * `first`: the worker's number of the first line, each next line one more; a run's numbers only go
   * up while one worker holds it. The control plane skips lines it took already, so a report sent
   * again (its answer lost) adds none twice. Without it (an earlier worker) lines are appended.
   */
  logs: z.array(z.object({ runId: z.string(), first: z.number().int().nonnegative().optional(), lines: z.array(LogLineIn) })).default([]),
  // One that is not a span becomes null (as `.catch(null)` would; the OpenAPI document cannot show that).
  spans: z.array(z.union([SpanIn, z.unknown().transform(() => null)])).default([]),
  finished: z
    .array(
      z.object({
        id: z.string(),
        attempt: z.number().int(),
        status: z.enum(TERMINAL_RUN_STATUSES),
        result: WireValue.optional(),
        error: ReportedError.nullable().optional(),
        startedAt: epochMs.optional(),
        finishedAt: epochMs.optional(),
        /** The batched calls it carried (its spans are one or more per call). */
        calls: z.number().int().min(1).max(MAX_CALLS_PER_RUN).optional(),
      }),
    )
    .default([]),
  /** Attempts that failed with retries left, or were interrupted: back to the queue. */
  requeued: z.array(z.object({ id: z.string(), attempt: z.number().int().optional(), scheduledFor: epochMs.nullable(), error: ReportedError.nullable() })).default([]),
  /** Servings this worker hosts: status changes, request counts, crash events. */
  servings: z
    .array(
      z.object({
        deploymentId: z.string(),
        /** The worker's number of this note, one more each: a report sent again applies no note twice. */
        no: z.number().int().nonnegative().optional(),
        versionId: z.string().optional(),
        status: z.enum(SERVING_STATUSES).optional(),
        pid: z.number().int().nullable().optional(),
        lastError: z.string().nullable().optional(),
        restarted: z.boolean().optional(),
        requests: z.number().int().optional(),
        logs: z.array(z.string()).optional(),
        event: z.object({ kind: z.string(), message: z.string(), data: z.record(z.string(), z.unknown()).optional() }).optional(),
      }),
    )
    .default([]),
  /** Runs the queue (BullMQ) delivered to this worker: claimed after everything above is applied. */
  claim: z.array(platformId("a run id")).max(MAX_CLAIM_RUNS).default([]),
});

/** What a worker is told to host (a serving placed on it). */
export const ServingAssignment = z
  .object({
    deploymentId: z.string(),
    versionId: z.string(),
    workspaceId: z.string(),
    workspace: z.string(),
    name: z.string(),
    contentHash: z.string(),
    manifest: z.record(z.string(), z.unknown()),
    publicUrl: z.string(),
  })
  .openapi("ServingAssignment");

export const workerContract = {
  "POST /worker/register": createRoute({
    method: "post",
    path: "/worker/register",
    summary: "A worker joins: it gets its id and the lease and heartbeat periods",
    request: {
      body: jsonBody(
        z.object({
          name: z.string().min(1).max(200),
          slots: z.number().int().min(1).max(4096),
          protocol: z.number().int(),
          address: z.string().url().nullable().optional().openapi({ description: "where the control plane reaches this worker's servings (http://host:port)" }),
          local: z.boolean().optional(),
          sandbox: z.object({ kind: z.enum(["bwrap", "none"]), detail: z.string() }).optional().openapi({ description: "how it runs user code (bubblewrap path, or why not)" }),
        }),
      ),
    },
    responses: {
      200: json(
        z.object({
          workerId: z.string(),
          leaseMs: z.number().int(),
          heartbeatMs: z.number().int(),
          maxBodyBytes: z.number().int(),
          /** Sent by the control plane with every request it proxies to this worker's servings. */
          proxySecret: z.string(),
          queue: z.object({ kind: z.enum(["embedded", "bullmq"]), redisUrl: z.string().optional(), prefix: z.string().optional() }),
        }),
        "Registered",
      ),
      ...failures,
    },
  }),
  "POST /worker/heartbeat": createRoute({
    method: "post",
    path: "/worker/heartbeat",
    summary: "Renew the leases of the runs this worker holds; learn what it should host",
    request: {
      body: jsonBody(
        z.object({
          workerId,
          servings: z.array(z.string()).default([]),
          holding: z.array(z.string()).max(1_000_000).default([]).openapi({ description: "runs it claimed and has not reported finished or requeued: only these leases are renewed" }),
        }),
      ),
    },
    responses: {
      200: json(z.object({ leases: z.number().int(), servings: z.array(ServingAssignment), deployments: z.array(z.string()).optional().openapi({ description: "job deployments whose BullMQ queues workers consume" }) }), "Renewed"),
      ...failures,
    },
  }),
  "POST /worker/claim": createRoute({
    method: "post",
    path: "/worker/claim",
    summary: "Claim up to `max` queued runs; waits up to `waitMs` when there are none",
    request: {
      body: jsonBody(z.object({ workerId, max: z.number().int().min(1).max(10_000), exclude: z.array(z.string()).default([]), waitMs: z.number().int().min(0).max(60_000).default(0) })),
    },
    responses: { 200: json(z.object({ runs: z.array(ClaimedRun) }), "Claimed runs (possibly none)"), ...failures },
  }),
  "POST /worker/schedule-fire": createRoute({
    method: "post",
    path: "/worker/schedule-fire",
    summary: "A schedule's fire the queue delivered (BullMQ job scheduler): the control plane creates its run once",
    request: { body: jsonBody(z.object({ workerId, scheduleId: z.string(), deploymentId: z.string(), firedAt: z.number().int().nonnegative() })) },
    responses: { 200: json(z.object({ runId: z.string().nullable() }), "The run it became; null when this fire was recorded already, or the schedule is gone or disabled"), ...failures },
  }),
  "POST /worker/events": createRoute({
    method: "post",
    path: "/worker/events",
    summary: "Long-poll what the worker must act on: cancels of runs it holds, servings to (re)start or stop",
    request: { body: jsonBody(z.object({ workerId, waitMs: z.number().int().min(0).max(60_000).default(25_000) })) },
    responses: { 200: json(z.object({ cancel: z.array(z.string()), servings: z.array(ServingAssignment).optional(), stop: z.array(z.string()).optional() }), "What happened"), ...failures },
  }),
  "POST /worker/report": createRoute({
    method: "post",
    path: "/worker/report",
    summary: "Started marks, log lines, spans, finished and requeued runs, serving status, claims of delivered runs — in one batch, applied in that order",
    request: { body: jsonBody(WorkerReport) },
    responses: {
      200: json(
        z.object({
          finished: z.array(z.string()),
          requeued: z.array(z.string()),
          claimed: z.array(ClaimedRun).openapi({ description: "the runs of `claim` now held by the worker; the rest are finished, cancelled or unknown" }),
          held: z.array(z.string()).openapi({ description: "runs of `claim` another worker still holds: deliver them again later (the holder may finish, requeue or die)" }),
        }),
        "The runs each part applied to",
      ),
      ...failures,
    },
  }),
  "GET /worker/versions/{id}": createRoute({
    method: "get",
    path: "/worker/versions/{id}",
    summary: "A deployment version's manifest and bundle hash",
    request: { params: z.object({ id: z.string().min(1) }) },
    responses: { 200: json(z.object({ id: z.string(), deploymentId: z.string(), contentHash: z.string(), manifest: z.record(z.string(), z.unknown()) }), "The version"), ...failures },
  }),
  "GET /worker/bundles/{hash}": createRoute({
    method: "get",
    path: "/worker/bundles/{hash}",
    summary: "Download a bundle by hash (the worker verifies it against the hash before using it)",
    request: { params: z.object({ hash: hashParam("a bundle hash") }) },
    responses: { 200: { description: "The bundle (gzip tar)", content: { "application/gzip": { schema: z.string().openapi({ format: "binary" }) } } }, ...failures },
  }),
  "POST /worker/runtime-token": createRoute({
    method: "post",
    path: "/worker/runtime-token",
    summary: "The workspace token user processes of this workspace get (minted per worker and workspace)",
    request: { body: jsonBody(z.object({ workerId, workspaceId: z.string().min(1) })) },
    responses: {
      200: json(z.object({ token: z.string(), url: z.string() }), "The token"),
      ...failures,
      429: failure("Revoked again and again: not minted now; Retry-After says when"),
    },
  }),
  "POST /worker/leave": createRoute({
    method: "post",
    path: "/worker/leave",
    summary: "The worker stops cleanly: its runtime tokens are revoked and its servings placed elsewhere",
    request: { body: jsonBody(z.object({ workerId })) },
    responses: { 200: json(z.object({ ok: z.literal(true) }), "Left"), ...failures },
  }),
} as const;
