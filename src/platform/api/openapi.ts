/** The API's OpenAPI 3.1 document (served at /api/v1/openapi.json); the route test checks every route here exists. */
export const API_ROUTES = [
  ["get", "/health", "Liveness"],
  ["get", "/workspaces", "List workspaces visible to the token"],
  ["post", "/workspaces", "Create a workspace (admin)"],
  ["get", "/tokens", "List tokens"],
  ["post", "/tokens", "Create a workspace token (admin)"],
  ["delete", "/tokens/{id}", "Revoke a token (admin: any; workspace token: its workspace's tokens); effective at once"],
  ["get", "/bundles/{hash}", "Does the platform have this bundle?"],
  ["put", "/bundles/{hash}", "Upload a bundle (gzip tar): verified against its hash under the unpack limits, never overwritten"],
  ["get", "/deployments/{id}", "Get a deployment by id (any workspace the token can see)"],
  ["get", "/workspaces/{ws}/deployments", "List deployments"],
  ["post", "/workspaces/{ws}/deployments", "Register a deployment version from an uploaded bundle"],
  ["get", "/workspaces/{ws}/deployments/{name}", "Get a deployment by name or id"],
  ["post", "/workspaces/{ws}/deployments/{name}/runs", "Trigger a run: { args, traceparent?, wait? }"],
  ["put", "/blobs/{hash}", "Upload a large argument list (wire JSON, named by its sha256) to send as { argsRef }"],
  ["get", "/runs", "List runs (?workspace, ?status, ?deployment, ?limit, ?before)"],
  ["post", "/runs/wait", "Long-poll many runs: { ids, timeoutMs } → the finished ones, as soon as any is"],
  ["get", "/runs/{id}", "Get a run"],
  ["get", "/runs/{id}/wait", "Long-poll until the run ends (?timeoutMs)"],
  ["get", "/runs/{id}/logs", "Run log lines (?after=seq, ?follow=1)"],
  ["get", "/runs/{id}/spans", "Spans of a run"],
  ["post", "/runs/{id}/cancel", "Cancel a run"],
  ["post", "/runs/{id}/retry", "Run again with the same arguments"],
  ["get", "/schedules", "List schedules"],
  ["get", "/events", "Platform events (restarts, missed schedule ticks)"],
  ["get", "/servings", "List servings and their status"],
  ["get", "/workspaces/{ws}/servings/{name}/logs", "Recent output lines of a serving's process"],
  ["post", "/workspaces/{ws}/servings/{name}/token", "Rotate the serving's token: a new current one (returned once), the old one revoked at once"],
] as const;

export function openApiDocument(serverUrl: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [method, path, summary] of API_ROUTES) {
    const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
    (paths[path] ??= {})[method] = {
      summary,
      parameters: params,
      responses: {
        "200": { description: "OK (JSON)" },
        "400": { description: "Bad input: { error: { code, message } }" },
        "401": { description: "Missing or invalid token" },
        "403": { description: "Token of another workspace" },
        "404": { description: "Not found" },
        "413": { description: "Body too large" },
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "nbox platform API", version: "1" },
    servers: [{ url: `${serverUrl}/api/v1` }],
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    security: [{ bearer: [] }],
    paths,
  };
}
