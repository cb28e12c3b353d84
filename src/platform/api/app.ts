import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { NboxError } from "../../errors.ts";
import type { PlatformContext } from "../context.ts";
import type { ServingHost } from "../serving/types.ts";
import { bearerAuth } from "./auth.ts";
import type { ApiEnv } from "./env.ts";
import { onApiError } from "./errors.ts";
import { openApiDocument } from "./openapi.ts";
import { adminRoutes } from "./routes-admin.ts";
import { deploymentRoutes } from "./routes-deployments.ts";
import { bundleRoutes } from "./routes-bundles.ts";
import { runRoutes } from "./routes-runs.ts";
import { blobRoutes } from "./routes-blobs.ts";
import { servingRoutes } from "./routes-servings.ts";

/** The `/api/v1` application: open health + OpenAPI, everything else behind bearer auth. */
export function createApi(ctx: PlatformContext, servings?: ServingHost, extra?: (app: Hono<ApiEnv>) => void) {
  const tooLarge = () => {
    throw new NboxError("PAYLOAD_TOO_LARGE", `request body is larger than the limit of ${ctx.config.maxBodyBytes} bytes`, "Send large values by reference or raise --max-body");
  };
  const api = new Hono<ApiEnv>()
    .get("/health", (c) => c.json({ ok: true }))
    .get("/openapi.json", (c) => c.json(openApiDocument(ctx.publicUrl)))
    .use("*", bearerAuth(ctx))
    // Bundles have their own (larger) limit; everything else the general one, checked before reading.
    .use("*", async (c, next) => (/\/(bundles|blobs)\//.test(c.req.path) ? next() : bodyLimit({ maxSize: ctx.config.maxBodyBytes, onError: tooLarge })(c, next)))
    .route("/", adminRoutes(ctx))
    .route("/", bundleRoutes(ctx))
    .route("/", deploymentRoutes(ctx, servings))
    .route("/", runRoutes(ctx))
    .route("/", servingRoutes(ctx, servings))
    .route("/", blobRoutes(ctx));
  extra?.(api);
  api.onError(onApiError);
  api.notFound((c) => c.json({ error: { code: "NOT_FOUND", message: `no API route ${c.req.method} ${c.req.path}` } }, 404));
  return api;
}
