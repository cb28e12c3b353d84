import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { bodyLimit } from "hono/body-limit";
import { NboxError } from "../../errors.ts";
import type { PlatformContext } from "../context.ts";
import { HASH } from "../../contract/helpers.ts";
import { deploymentContract as r } from "../../contract/routes-deployments.ts";
import { router } from "./validation.ts";

/** Where argument lists uploaded by reference wait for the trigger that names them (swept: see retention.ts). */
export const blobsDir = (dataDir: string) => join(dataDir, "blobs");
const blobFile = (ctx: PlatformContext, hash: string) => join(blobsDir(ctx.config.dataDir), `${hash}.json`);

/** An argument list sent by reference: `{ argsRef: <sha256 of its wire JSON> }` (see PUT /blobs). */
export function isArgsRef(x: unknown): x is { argsRef: string } {
  return typeof x === "object" && x !== null && !Array.isArray(x) && typeof (x as { argsRef?: unknown }).argsRef === "string";
}

/** The wire value a ref points at (400 if it was never uploaded). */
export async function readArgsRef(ctx: PlatformContext, ref: { argsRef: string }): Promise<unknown> {
  if (!HASH.test(ref.argsRef)) throw new NboxError("BAD_ARGS", `argsRef "${ref.argsRef}" is not a sha256 hash`);
  const file = blobFile(ctx, ref.argsRef);
  if (!existsSync(file)) throw new NboxError("BAD_ARGS", `argsRef ${ref.argsRef} was not uploaded`, "PUT /api/v1/blobs/<hash> first");
  return JSON.parse(await readFile(file, "utf8"));
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
      const file = blobFile(ctx, hash);
      await mkdir(blobsDir(ctx.config.dataDir), { recursive: true });
      const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
      await writeFile(tmp, body);
      await rename(tmp, file);
      return c.json({ stored: true as const, bytes: body.length }, 201);
    },
  );
}
