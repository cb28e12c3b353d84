/** W3C Trace Context `traceparent` header: `00-<traceId>-<parentSpanId>-<flags>`. */
export interface TraceParent {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

// Version 00 is exactly four fields; a later version may append more after a dash (W3C §3.2.4:
// parse what is known), and version ff is invalid.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

export function formatTraceParent(p: TraceParent): string {
  return `00-${p.traceId}-${p.spanId}-${p.sampled ? "01" : "00"}`;
}

/** Returns null for a missing or malformed header (the spec says: start a new trace). */
export function parseTraceParent(header: string | null | undefined): TraceParent | null {
  if (!header) return null;
  const m = TRACEPARENT.exec(header.trim().toLowerCase());
  if (!m) return null;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === "ff" || (version === "00" && rest !== undefined)) return null;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  return { traceId: traceId!, spanId: spanId!, sampled: (parseInt(flags!, 16) & 1) === 1 };
}
