// The serving wire format (DESIGN §4): `{ ok: true, value }` / `{ ok: false, error: { name, message, stack? } }`,
// and the HTTP status each failure gets: 4xx for caller mistakes, 500 for user code, 504 for timeouts.
import { toWire } from "../../codec/index.ts";
import { relativeStack } from "../../codec/stack-paths.ts";
import { ERROR_STATUS, type ErrorCode } from "../../errors.ts";
import { CallTimeoutError } from "./call-queue.ts";

export interface WireError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

/** A caller mistake or platform condition answered with a 4xx/5xx status (never user code). */
export class ServingError extends Error {
  override name = "ServingError";
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

/**
 * Plain JSON view of anything thrown (user errors keep their name, message and stack). With
 * `bundleRoot`, stack paths are made relative to it and host folders are left out (relativeStack).
 */
export function wireError(err: unknown, bundleRoot?: string): WireError {
  if (err instanceof Error) {
    const out: WireError = { name: err.name, message: err.message };
    // Platform-made errors (bad args, timeouts) carry no stack: it would only show nbox internals.
    if (err.stack && !(err instanceof ServingError) && !(err instanceof CallTimeoutError)) {
      out.stack = bundleRoot === undefined ? err.stack : relativeStack(err.stack, bundleRoot);
    }
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string") out.code = code;
    return out;
  }
  return { name: "NonError", message: `non-Error thrown: ${safeString(err)}` };
}

function safeString(x: unknown): string {
  try {
    return typeof x === "string" ? x : JSON.stringify(x) ?? String(x);
  } catch {
    return String(x);
  }
}

/** Status for a failure: ServingError carries its own, timeouts 504, anything else came from user code (500). */
export function statusOf(err: unknown): number {
  if (err instanceof ServingError) return err.status;
  if (err instanceof CallTimeoutError) return 504;
  return 500;
}

export const okBody = (value: unknown) => ({ ok: true as const, value: toWire(value, { path: "result" }) });
export const errBody = (err: unknown, bundleRoot?: string) => ({ ok: false as const, error: wireError(err, bundleRoot) });
