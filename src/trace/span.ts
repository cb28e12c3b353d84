export const SPAN_STATUSES = ["ok", "error"] as const;
export type SpanStatus = (typeof SPAN_STATUSES)[number];

/** One operator call. Times are epoch milliseconds with sub-ms precision. */
export interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  /** Dotted operator path from the root of the call tree, e.g. `MyOperator.b`. */
  op: string;
  name: string;
  start: number;
  end: number;
  status: SpanStatus;
  error?: { name: string; message: string; stack?: string };
  attributes: Record<string, unknown>;
}

/** A span while it runs; becomes a `Span` when ended. */
export interface ActiveSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | null;
  readonly op: string;
  readonly name: string;
  readonly start: number;
  attributes: Record<string, unknown>;
}
