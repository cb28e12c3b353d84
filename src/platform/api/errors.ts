import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { CodecError } from "../../codec/index.ts";
import { isNboxError } from "../../errors.ts";
import { StoreError } from "../store/errors.ts";

/** One error shape for every API failure: `{ error: { code, message } }` with the matching status. */
export function onApiError(err: Error, c: Context): Response {
  if (isNboxError(err)) return c.json({ error: { code: err.code, message: err.message } }, err.status as 400);
  if (err instanceof StoreError) return c.json({ error: { code: err.code, message: err.message } }, err.status as 400);
  if (err instanceof CodecError) return c.json({ error: { code: "BAD_ARGS", message: `arguments do not decode: ${err.message}` } }, 400);
  if (err instanceof HTTPException) {
    const status = err.status;
    const code = status === 413 ? "PAYLOAD_TOO_LARGE" : status === 401 ? "UNAUTHORIZED" : "BAD_REQUEST";
    return c.json({ error: { code, message: err.message || `HTTP ${status}` } }, status);
  }
  console.error("[nbox api] unexpected error:", err);
  return c.json({ error: { code: "INTERNAL", message: err.message } }, 500);
}

/** Parse a JSON body, turning malformed JSON into a 400 that says so. */
export async function jsonBody<T = Record<string, unknown>>(c: Context): Promise<T> {
  const text = await c.req.text();
  if (!text) return {} as T;
  try {
    const v = JSON.parse(text);
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new SyntaxError("expected a JSON object");
    return v as T;
  } catch (e) {
    throw new HTTPException(400, { message: `malformed JSON body: ${(e as Error).message}` });
  }
}
