// Declarations of the bundle, blob, deployment and trigger routes.
import { createRoute, z } from "@hono/zod-openapi";
import { failures, hashParam, json, jsonBody } from "./helpers.ts";
import { Deployment, Run } from "./schemas.ts";
import { MAX_CALLS_PER_RUN } from "./batched-calls.ts";

const wsParams = z.object({ ws: z.string().min(1) });
/** An encoded argument list: the wire form of the arguments array. */
const ArgList = z.array(z.unknown()).openapi({ description: "the arguments, each in the tagged wire encoding" });
/** An argument list uploaded to PUT /blobs first (above the body limit), named by its sha256. */
const ArgsRef = z.object({ argsRef: z.string() });
/** Several calls carried by one run (a job without retries): each its own outcome in the run's result. */
const Calls = z.object({ calls: z.array(ArgList).min(1).max(MAX_CALLS_PER_RUN) });
/**
 * Uploads are read as raw bytes (hashed, streamed to disk), never parsed by a validator: a plain
 * JSON Schema documents them without the server buffering them through zod.
 */
const rawBody = (mediaType: string, description: string, schema: Record<string, unknown>) => ({ required: true, description, content: { [mediaType]: { schema } } });

export const TriggerBody = z.object({
  args: ArgList.optional(),
  argsRef: z.string().optional(),
  batch: z.array(z.union([ArgList, ArgsRef, Calls])).min(1).optional(),
  traceparent: z.string().optional(),
  wait: z.boolean().optional().openapi({ description: "answer once the run is done (or still running after a while)" }),
  withArgs: z.boolean().optional().openapi({ description: "false: the runs in the answer leave out their arguments (the caller has them; a fan-out's answers would carry every input back)" }),
});

export const deploymentContract = {
  "GET /bundles/{hash}": createRoute({
    method: "get",
    path: "/bundles/{hash}",
    summary: "Does the platform have this bundle?",
    request: { params: z.object({ hash: hashParam("a bundle hash") }) },
    responses: { 200: json(z.object({ exists: z.boolean() }), "Whether it was uploaded"), ...failures },
  }),
  "PUT /bundles/{hash}": createRoute({
    method: "put",
    path: "/bundles/{hash}",
    summary: "Upload a bundle (gzip tar): verified against its hash under the unpack limits, never overwritten",
    request: { params: z.object({ hash: hashParam("a bundle hash") }), body: rawBody("application/octet-stream", "the bundle: a gzip tar", { type: "string", format: "binary" }) },
    responses: {
      200: json(z.object({ stored: z.boolean(), bytes: z.number().int() }), "Already there (stored: false)"),
      201: json(z.object({ stored: z.boolean(), bytes: z.number().int() }), "Stored (stored: true)"),
      ...failures,
    },
  }),
  "PUT /blobs/{hash}": createRoute({
    method: "put",
    path: "/blobs/{hash}",
    summary: "Upload a large argument list (wire JSON, named by its sha256) to send as { argsRef }",
    request: { params: z.object({ hash: hashParam("a sha256 hash") }), body: rawBody("application/json", "the wire JSON of an argument list, exactly the bytes that hash to {hash}", { type: "array", items: {} }) },
    responses: { 201: json(z.object({ stored: z.literal(true), bytes: z.number().int() }), "Stored"), ...failures },
  }),
  "GET /deployments/{id}": createRoute({
    method: "get",
    path: "/deployments/{id}",
    summary: "Get a deployment by id (any workspace the token can see)",
    request: { params: z.object({ id: z.string().min(1) }) },
    responses: { 200: json(z.object({ deployment: Deployment }), "The deployment"), ...failures },
  }),
  "GET /workspaces/{ws}/deployments": createRoute({
    method: "get",
    path: "/workspaces/{ws}/deployments",
    summary: "List deployments",
    request: { params: wsParams },
    responses: { 200: json(z.object({ deployments: z.array(Deployment) }), "Deployments of the workspace"), ...failures },
  }),
  "POST /workspaces/{ws}/deployments": createRoute({
    method: "post",
    path: "/workspaces/{ws}/deployments",
    summary: "Register a deployment version from an uploaded bundle",
    request: { params: wsParams, body: jsonBody(z.object({ manifest: z.record(z.string(), z.unknown()).openapi({ description: "the nbox.json packed inside the bundle" }) })) },
    responses: {
      200: json(z.object({ deployment: Deployment, created: z.boolean() }), "This version was already registered (created: false)"),
      201: json(z.object({ deployment: Deployment, created: z.boolean() }), "A new version (created: true)"),
      ...failures,
    },
  }),
  "GET /workspaces/{ws}/deployments/{name}": createRoute({
    method: "get",
    path: "/workspaces/{ws}/deployments/{name}",
    summary: "Get a deployment by name or id",
    request: { params: wsParams.extend({ name: z.string().min(1) }) },
    responses: { 200: json(z.object({ deployment: Deployment }), "The deployment"), ...failures },
  }),
  "POST /workspaces/{ws}/deployments/{name}/runs": createRoute({
    method: "post",
    path: "/workspaces/{ws}/deployments/{name}/runs",
    summary: "Trigger a run ({ args } or { argsRef }), or one run per item of { batch }",
    request: { params: wsParams.extend({ name: z.string().min(1) }), body: jsonBody(TriggerBody, false) },
    responses: { 201: json(z.union([z.object({ run: Run }), z.object({ runs: z.array(Run) })]), "The run (finished if `wait` and quick), or the runs of a batch"), ...failures },
  }),
} as const;
