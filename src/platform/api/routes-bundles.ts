import { Hono } from "hono";
import { NboxError } from "../../errors.ts";
import { storeBundle, storedBundleSize, sweepStaleUploads, tooLarge } from "../bundle-store.ts";
import type { PlatformContext } from "../context.ts";
import type { ApiEnv } from "./env.ts";

const HASH = /^[0-9a-f]{64}$/;

function parseHash(hash: string): string {
  if (!HASH.test(hash)) throw new NboxError("BAD_REQUEST", `"${hash}" is not a bundle hash (64 hex chars)`);
  return hash;
}

/** Content-addressed bundles: uploads are verified against their hash and never overwritten. */
export function bundleRoutes(ctx: PlatformContext) {
  // Temps of uploads that died with an earlier process.
  void sweepStaleUploads(ctx.paths).catch(() => {});
  return new Hono<ApiEnv>()
    .get("/bundles/:hash", async (c) => {
      const hash = parseHash(c.req.param("hash"));
      return c.json({ exists: (await storedBundleSize(ctx, hash)) !== null });
    })
    .put("/bundles/:hash", async (c) => {
      const hash = parseHash(c.req.param("hash"));
      // Refuse before reading when the client says how big the body is; otherwise it is counted as it streams.
      const declared = Number(c.req.header("content-length") ?? 0);
      if (declared > ctx.config.maxBundleBytes) throw tooLarge(ctx.config.maxBundleBytes);
      const r = await storeBundle(ctx, hash, c.req.raw.body);
      return c.json(r, r.stored ? 201 : 200);
    });
}
