import { createHash } from "node:crypto";
import { toWire } from "../codec/index.ts";
import type { PlatformClient } from "./client.ts";

// Argument lists above this travel by reference: uploaded once to /blobs, then named by hash,
// so they are not bounded by the API's request-body limit (10 MiB by default).
export const BY_REF_BYTES = 1024 * 1024;

/** `{ args }` for small argument lists, `{ argsRef }` (after uploading) for large ones. */
export async function argsPayload(client: PlatformClient, args: unknown[], path = "args"): Promise<{ args: unknown[] } | { argsRef: string }> {
  const wire = toWire(args, { path }) as unknown[];
  const text = JSON.stringify(wire);
  if (text.length <= BY_REF_BYTES) return { args: wire };
  const bytes = Buffer.from(text, "utf8");
  const hash = createHash("sha256").update(bytes).digest("hex");
  await client.call("PUT /blobs/{hash}", { params: { hash }, raw: bytes, headers: { "content-type": "application/json" } });
  return { argsRef: hash };
}
