// The serving wire format: `{ ok: true, value }` / `{ ok: false, error: { code, name, message, stack? } }`,
// the HTTP status each failure gets (4xx caller mistakes, 500 user code, 504 timeouts), and the
// two value encodings a caller can ask for: plain JSON (the default, for any HTTP client) or the
// tagged codec (the SDK, which keeps Dates, Maps, BigInts, … as they were).
import { relativeStack } from "../../codec/stack-paths.ts";
import { ERROR_STATUS, type ErrorCode } from "../../errors.ts";
import type { WireError } from "../../contract/wire-error.ts";
import type { ValueEncoding } from "../runtime/protocol.ts";

export type { ValueEncoding } from "../runtime/protocol.ts";

/** Media type of the tagged codec: sent as Content-Type (arguments) and Accept (results) by the SDK. */
export const TAGGED_JSON = "application/vnd.nbox+json";

const mentionsTagged = (header: string | undefined) => header !== undefined && header.toLowerCase().includes(TAGGED_JSON);
/** Arguments are tagged only when the Content-Type says so; anything else is read as plain JSON. */
export const requestEncoding = (contentType: string | undefined): ValueEncoding => (mentionsTagged(contentType) ? "tagged" : "plain");
/** Results are tagged only for callers that Accept the tagged media type. */
export const responseEncoding = (accept: string | undefined): ValueEncoding => (mentionsTagged(accept) ? "tagged" : "plain");

export type { WireError };

/** A caller mistake or platform condition answered with a 4xx/5xx status (never user code). */
export class ServingError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    name = "ServingError",
  ) {
    super(message);
    this.name = name;
  }
  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

/** The code of anything thrown while serving: platform conditions (refusals, timeouts, crashes) keep theirs, everything else is the user's code failing. */
export function codeOf(err: unknown): ErrorCode {
  return err instanceof ServingError ? err.code : "USER_CODE";
}

/**
 * Plain JSON view of anything thrown (user errors keep their name, message and stack). With
 * `bundleRoot`, stack paths are made relative to it and host folders are left out (relativeStack).
 */
export function wireError(err: unknown, bundleRoot?: string): WireError & { code: ErrorCode } {
  const code = codeOf(err);
  if (err instanceof Error) {
    const out: WireError & { code: ErrorCode } = { code, name: err.name, message: err.message };
    // Platform-made errors (bad args, timeouts) carry no stack: it would only show nbox internals.
    if (err.stack && code === "USER_CODE") out.stack = bundleRoot === undefined ? err.stack : relativeStack(err.stack, bundleRoot);
    return out;
  }
  return { code, name: "NonError", message: `non-Error thrown: ${safeString(err)}` };
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
  return ERROR_STATUS[codeOf(err)];
}

/**
 * A success body around a value the runtime already encoded (runtime/values.ts): plain JSON with
 * `value` left out when it is undefined, or the codec's wire form.
 */
export function okBody(encoded: unknown, encoding: ValueEncoding): { ok: true; value?: unknown } {
  return encoding === "plain" && encoded === undefined ? { ok: true } : { ok: true, value: encoded };
}

export const errBody = (err: unknown, bundleRoot?: string) => ({ ok: false as const, error: wireError(err, bundleRoot) });

