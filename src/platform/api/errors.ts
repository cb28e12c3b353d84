import { randomBytes } from "node:crypto";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { CodecError } from "../../codec/index.ts";
import { codeForStatus, isNboxError, toErrorCode, type ErrorCode } from "../../errors.ts";
import { StoreError } from "../store/errors.ts";
import { isStoreUnavailable } from "../store/unavailable.ts";

/** The one failure body of the API: `{ ok: false, error: { code, name, message } }`. */
export const apiFailure = (code: ErrorCode, name: string, message: string) => ({ ok: false as const, error: { code, name, message } });

/** Every API failure gets the failure body with the matching status. */
export function onApiError(err: Error, c: Context): Response {
  if (isNboxError(err)) return c.json(apiFailure(err.code, err.name, err.message), err.status as 400);
  if (err instanceof StoreError) return c.json(apiFailure(toErrorCode(err.code, err.status), err.name, err.message), err.status as 400);
  if (err instanceof CodecError) return c.json(apiFailure("BAD_ARGS", err.name, `arguments do not decode: ${err.message}`), 400);
  if (err instanceof HTTPException) {
    const status = err.status;
    // Hono's body parsers say "Malformed JSON in request body"; other statuses keep their own code.
    return c.json(apiFailure(status === 415 ? "BAD_REQUEST" : codeForStatus(status), "HTTPException", err.message || `HTTP ${status}`), status);
  }
  if (isStoreUnavailable(err)) {
    console.error("[nbox api] the store is unavailable:", err);
    c.header("retry-after", "2");
    return c.json(apiFailure("UNAVAILABLE", "StoreUnavailableError", "the platform's store cannot be reached right now; try again shortly"), 503);
  }
  // Its message may hold internals (a failed statement with its parameters): the caller gets a
  // reference to the control plane's log, the operator the details.
  const ref = randomBytes(4).toString("hex");
  console.error(`[nbox api] unexpected error ${ref}:`, err);
  return c.json(apiFailure("INTERNAL", "InternalError", `internal error ${ref}; the control plane's log has the details`), 500);
}
