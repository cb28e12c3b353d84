import { createHash } from "node:crypto";
import { bodyLimit } from "hono/body-limit";
import { NboxError } from "../../errors.ts";
import type { PlatformContext } from "../context.ts";
import { HASH } from "../../contract/helpers.ts";
import { deploymentContract as r } from "../../contract/routes-deployments.ts";
import { router } from "./validation.ts";
import { blobsDir, putBlob, readBlob } from "../blob-staging.ts";

/** An argument list sent by reference: `{ argsRef: <sha256 of its wire JSON> }` (see PUT /blobs). */
export function isArgsRef(x: unknown): x is { argsRef: string } {
  return typeof x === "object" && x !== null && !Array.isArray(x) && typeof (x as { argsRef?: unknown }).argsRef === "string";
}

/** The wire value a ref points at (400 if it was never uploaded). */
export async function readArgsRef(ctx: PlatformContext, ref: { argsRef: string }): Promise<unknown> {
  if (!HASH.test(ref.argsRef)) throw new NboxError("BAD_ARGS", `argsRef "${ref.argsRef}" is not a sha256 hash`);
  const text = await readBlob(blobsDir(ctx.config.dataDir), ref.argsRef);
  if (text === undefined) throw new NboxError("BAD_ARGS", `argsRef ${ref.argsRef} was not uploaded`, "PUT /api/v1/blobs/<hash> first");
  return JSON.parse(text);
}

/**
 * Large values by reference: a request body has a size limit, so an argument list
 * above it is uploaded here first (content-addressed, up to the bundle limit) and named by hash.
 */
export function blobRoutes(ctx: PlatformContext) {
  const limit = bodyLimit({
    maxSize: ctx.config.maxBundleBytes,
    onError: () => {
      throw new NboxError("PAYLOAD_TOO_LARGE", `value is larger than the platform limit of ${ctx.config.maxBundleBytes} bytes`);
    },
  });
  return router().openapi(
    { ...r["PUT /blobs/{hash}"], middleware: limit },
    async (c) => {
      const { hash } = c.req.valid("param");
      const body = Buffer.from(await c.req.arrayBuffer());
      if (createHash("sha256").update(body).digest("hex") !== hash) throw new NboxError("BAD_REQUEST", `the body does not hash to ${hash}`);
      try {
        JSON.parse(body.toString("utf8"));
      } catch {
        throw new NboxError("BAD_REQUEST", "a blob must be JSON (an encoded wire value)");
      }
      await putBlob(blobsDir(ctx.config.dataDir), hash, body);
      return c.json({ stored: true as const, bytes: body.length }, 201);
    },
  );
}
