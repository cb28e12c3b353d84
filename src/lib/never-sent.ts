// Connection failures that mean a request never left this side: nothing listened at the address
// (a restart, a move) or the address did not resolve. Such a request may be sent again whatever it
// was; one cut off after it was sent (ECONNRESET, a socket hang up) may have run.
const NEVER_SENT = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);

/** True when `err` (node:http's error, or fetch's with the cause inside) says the request was never sent. */
export function neverSent(err: unknown): boolean {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null | undefined;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === "string" && NEVER_SENT.has(code);
}
