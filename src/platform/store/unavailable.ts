// A store that cannot be reached (Postgres restarting, the network to it down, its connections used
// up) is not a bug: callers should hear "try again shortly", not "internal error". Errors from the
// driver arrive wrapped (drizzle's "Failed query" keeps the driver's error as its cause).

import { STORE_STOPPED } from "./pglite-wire.ts";

// STORE_STOPPED: the embedded store's thread was closed (a request racing the platform's stop) or died.
const CONNECTION_ERRNOS = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENOTFOUND", "EAI_AGAIN", STORE_STOPPED]);
// Postgres SQLSTATEs: admin/crash shutdown, cannot connect now, too many connections; class 08 is "connection exception".
const UNAVAILABLE_SQLSTATES = new Set(["57P01", "57P02", "57P03", "53300"]);
const CONNECTION_MESSAGES = /Connection terminated|connection timeout|Client has encountered a connection error|Client was closed/i;

/** The error (or one of its causes) says the store cannot be reached right now. */
export function isStoreUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === "object" && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && (CONNECTION_ERRNOS.has(code) || UNAVAILABLE_SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
    if (e instanceof Error && CONNECTION_MESSAGES.test(e.message)) return true;
  }
  return false;
}

/**
 * For work a request applies piece by piece (a worker's report): an unreachable store fails the
 * request (it is sent again); any other failure is logged as `what` and passed over, so one bad
 * piece is never resent forever, holding back everything after it.
 */
export function passOverUnlessUnavailable(err: unknown, what: string): void {
  if (isStoreUnavailable(err)) throw err;
  console.error(`[nbox] ${what}:`, err);
}
