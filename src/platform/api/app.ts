import type { Context, Hono } from "hono";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { NboxError } from "../../errors.ts";
import type { PlatformContext } from "../context.ts";
import type { ServingHost } from "../router/serving-control.ts";
import { bearerAuth } from "./auth.ts";
import { requestBodyLimit } from "./body-limit.ts";
import { adminContract } from "../../contract/routes-admin.ts";
import type { ApiEnv } from "./env.ts";
import { apiFailure, onApiError } from "./errors.ts";
import { openApiDocument } from "./openapi.ts";
import { adminRoutes } from "./routes-admin.ts";
import { deploymentRoutes } from "./routes-deployments.ts";
import { bundleRoutes } from "./routes-bundles.ts";
import { runRoutes } from "./routes-runs.ts";
import { blobRoutes } from "./routes-blobs.ts";
import { servingRoutes } from "./routes-servings.ts";
import { workersAdminRoutes } from "./routes-workers-admin.ts";
import { router } from "./validation.ts";

/** PUT /api/v1/bundles/<hash> and PUT /api/v1/blobs/<hash>: limited by their own routes. */
const UPLOAD_ROUTE = /^PUT \/api\/v1\/(bundles|blobs)\/[^/]+$/;

/** The `/api/v1` application: open health + OpenAPI, everything else behind bearer auth. */
// Typed by the route declarations (./contract), not by this app's inferred type: that one is too
// large to write into the package's declarations.
export function createApi(ctx: PlatformContext, servings?: ServingHost, extra?: (app: Hono<ApiEnv>) => void): OpenAPIHono<ApiEnv> {
  const tooLarge = () => {
    throw new NboxError("PAYLOAD_TOO_LARGE", `request body is larger than the limit of ${ctx.config.maxBodyBytes} bytes`, "Send large values by reference or raise --max-body");
  };
  const limit = requestBodyLimit(ctx.config.maxBodyBytes, tooLarge);
  const root = router();
  let doc: ReturnType<typeof openApiDocument> | undefined;
  const api = root
    .openapi(adminContract["GET /health"], (c) => c.json({ ok: true as const }, 200))
    // Generated once from the declarations mounted below (they do not change while the platform runs).
    .get("/openapi.json", (c) => c.json((doc ??= openApiDocument(root, ctx.publicUrl))))
    .use("*", bearerAuth(ctx))
    // The two upload routes have their own (larger) limits; everything else the general one, checked
    // before reading. Matched exactly: a deployment or workspace named "bundles" gets no exemption.
    .use("*", async (c, next) => (UPLOAD_ROUTE.test(`${c.req.method} ${c.req.path}`) ? next() : limit(c, next)))
    .route("/", adminRoutes(ctx))
    .route("/", bundleRoutes(ctx))
    .route("/", deploymentRoutes(ctx, servings))
    .route("/", runRoutes(ctx))
    .route("/", servingRoutes(ctx, servings))
    .route("/", blobRoutes(ctx))
    .route("/", workersAdminRoutes(ctx));
  extra?.(api);
  api.onError(onApiError);
  return root;
}

/**
 * The platform's answer for a path nothing serves: the API's JSON error under `/api/` (a sub-app's
 * own not-found handler is not consulted once it is mounted), plain text elsewhere.
 */
export function notFound(c: Context): Response {
  if (c.req.path === "/api" || c.req.path.startsWith("/api/")) return c.json(apiFailure("NOT_FOUND", "NotFound", `no API route ${c.req.method} ${c.req.path}`), 404);
  return c.text("404 Not Found", 404);
}
