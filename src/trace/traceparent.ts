/** W3C Trace Context `traceparent` header: `00-<traceId>-<parentSpanId>-<flags>`. */
export interface TraceParent {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

export function formatTraceParent(p: TraceParent): string {
  return `00-${p.traceId}-${p.spanId}-${p.sampled ? "01" : "00"}`;
}

/** Returns null for a missing or malformed header (the spec says: start a new trace). */
export function parseTraceParent(header: string | null | undefined): TraceParent | null {
  if (!header) return null;
  const m = TRACEPARENT.exec(header.trim().toLowerCase());
  if (!m || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return null;
  return { traceId: m[1]!, spanId: m[2]!, sampled: (parseInt(m[3]!, 16) & 1) === 1 };
}
