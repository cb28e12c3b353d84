import { storeBundle, storedBundleSize, sweepStaleUploads, tooLarge } from "../bundle-store.ts";
import type { PlatformContext } from "../context.ts";
import { deploymentContract as r } from "../../contract/routes-deployments.ts";
import { router } from "./validation.ts";

/** Content-addressed bundles: uploads are verified against their hash and never overwritten. */
export function bundleRoutes(ctx: PlatformContext) {
  // Temps of uploads that died with an earlier process.
  void sweepStaleUploads(ctx.paths).catch(() => {});
  return router()
    .openapi(r["GET /bundles/{hash}"], async (c) => c.json({ exists: (await storedBundleSize(ctx, c.req.valid("param").hash)) !== null }, 200))
    .openapi(r["PUT /bundles/{hash}"], async (c) => {
      const { hash } = c.req.valid("param");
      // Refuse before reading when the client says how big the body is; otherwise it is counted as it streams.
      const declared = Number(c.req.header("content-length") ?? 0);
      if (declared > ctx.config.maxBundleBytes) throw tooLarge(ctx.config.maxBundleBytes);
      // Streamed to disk as it arrives: the declared body is never buffered or parsed here.
      const stored = await storeBundle(ctx, hash, c.req.raw.body);
      return c.json(stored, stored.stored ? 201 : 200);
    });
}
