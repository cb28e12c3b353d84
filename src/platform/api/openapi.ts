import type { OpenAPIHono } from "@hono/zod-openapi";
import type { ApiEnv } from "./env.ts";

/** The OpenAPI 3.1 document of the API, generated from the route declarations mounted on `api`. */
export function openApiDocument(api: OpenAPIHono<ApiEnv>, serverUrl: string) {
  api.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  return api.getOpenAPI31Document({
    openapi: "3.1.0",
    info: { title: "nbox platform API", version: "1" },
    servers: [{ url: `${serverUrl}/api/v1` }],
    security: [{ bearer: [] }],
  });
}
