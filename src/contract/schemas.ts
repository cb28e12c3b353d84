// The shapes the platform API sends and accepts, declared once: the server validates input with
// them, the OpenAPI document is generated from them, and the SDK's client takes its types from them.
import { z } from "@hono/zod-openapi";
import { ERROR_CODES } from "../errors.ts";
import { DEPLOYMENT_KINDS, DEPLOYMENT_TYPES, LOG_STREAMS, RUN_STATUSES, SERVING_STATUSES, SPAN_STATUSES, TOKEN_SCOPES } from "./vocabulary.ts";

/** Every failure: `{ ok: false, error: { code, name, message } }` (code from the one closed list). */
export const ErrorEnvelope = z
  .object({
    ok: z.literal(false),
    error: z.object({ code: z.enum(ERROR_CODES), name: z.string(), message: z.string() }),
  })
  .openapi("Error");

/** Every time on the wire is an ISO 8601 string (UTC), whatever the store keeps. */
const isoTime = z.string().openapi({ format: "date-time" });
/** A value in the SDK's tagged wire encoding (plain JSON for plain values). */
export const WireValue = z.unknown().openapi({ description: "a value in the tagged wire encoding (plain JSON for plain values)" });

export const StoredErrorSchema = z.looseObject({ name: z.string(), message: z.string(), stack: z.string().optional() }).openapi("StoredError");

export const Run = z
  .object({
    id: z.string(),
    workspace: z.string(),
    deployment: z.string(),
    deploymentId: z.string(),
    versionId: z.string(),
    status: z.enum(RUN_STATUSES),
    attempt: z.number().int(),
    maxRetries: z.number().int(),
    args: WireValue,
    result: WireValue,
    error: StoredErrorSchema.nullable(),
    calls: z.number().int().optional().openapi({ description: "batched calls the run carries (absent: one call): `args` lists their argument lists, `result` their outcomes" }),
    traceId: z.string().nullable(),
    createdAt: isoTime,
    startedAt: isoTime.nullable(),
    finishedAt: isoTime.nullable(),
  })
  .openapi("Run");

export const Deployment = z
  .object({
    id: z.string(),
    workspace: z.string(),
    name: z.string(),
    type: z.enum(DEPLOYMENT_TYPES),
    kind: z.enum(DEPLOYMENT_KINDS),
    versionId: z.string(),
    contentHash: z.string(),
    signature: z.record(z.string(), z.unknown()).optional(),
    maxRetries: z.number().int().optional().openapi({ description: "jobs: retries after a failed attempt" }),
    timeoutMs: z.number().int().nullable().optional().openapi({ description: "jobs: limit on one call in ms (null: none)" }),
    servingUrl: z.string().optional(),
    servingToken: z.string().optional(),
  })
  .openapi("Deployment");

export const Workspace = z.object({ id: z.string(), name: z.string(), createdAt: isoTime }).openapi("Workspace");

export const Token = z
  .object({
    id: z.string(),
    workspaceId: z.string().nullable(),
    name: z.string(),
    scope: z.enum(TOKEN_SCOPES),
    servingId: z.string().nullable(),
    createdAt: isoTime,
    revokedAt: isoTime.nullable(),
  })
  .openapi("Token");

/** A token just minted: its secret is shown this once. */
export const NewToken = z.object({ token: Token, secret: z.string() });

export const Schedule = z
  .object({
    id: z.string(),
    deploymentId: z.string(),
    /** The deployment's and its workspace's names. */
    deployment: z.string(),
    workspace: z.string(),
    cron: z.string(),
    timezone: z.string(),
    startsAt: isoTime.nullable(),
    endsAt: isoTime.nullable(),
    lastTickAt: isoTime.nullable(),
    nextTickAt: isoTime.nullable(),
    /** false while paused (`nbx schedule pause`): no fires, kept across redeploys until resumed. */
    enabled: z.boolean(),
    createdAt: isoTime,
    updatedAt: isoTime,
  })
  .openapi("Schedule");

export const PlatformEvent = z
  .object({
    id: z.string(),
    workspaceId: z.string().nullable(),
    deploymentId: z.string().nullable(),
    runId: z.string().nullable(),
    kind: z.string(),
    message: z.string(),
    data: z.record(z.string(), z.unknown()).nullable(),
    ts: isoTime,
  })
  .openapi("Event");

export const LogLine = z.object({ seq: z.number().int(), stream: z.enum(LOG_STREAMS), line: z.string(), ts: isoTime }).openapi("LogLine");

export const Span = z
  .object({
    traceId: z.string(),
    spanId: z.string(),
    parentSpanId: z.string().nullable(),
    op: z.string(),
    name: z.string(),
    start: z.number(),
    end: z.number(),
    status: z.enum(SPAN_STATUSES),
    error: StoredErrorSchema.optional(),
    attributes: z.record(z.string(), z.unknown()),
  })
  .openapi("Span");

export const Serving = z
  .object({
    id: z.string(),
    workspace: z.string(),
    name: z.string(),
    url: z.string().nullable(),
    status: z.enum(SERVING_STATUSES),
    restarts: z.number().int(),
    requests: z.number().int(),
    versionId: z.string().nullable(),
    pid: z.number().int().nullable(),
    lastError: z.string().nullable(),
    updatedAt: isoTime.nullable(),
  })
  .openapi("Serving");
