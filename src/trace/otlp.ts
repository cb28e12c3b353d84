import type { SpanSink } from "./sinks.ts";
import type { Span } from "./span.ts";

// Spans leave in batches: at most this many per request, at least every FLUSH_MS.
const MAX_BATCH = 512;
const FLUSH_MS = 1_000;
// If the collector is down, keep at most this many spans waiting (oldest dropped first).
const MAX_QUEUE = 10_000;

type AttrValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean };

function attrValue(v: unknown): AttrValue {
  if (typeof v === "boolean") return { boolValue: v };
  if (typeof v === "number") return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
  return { stringValue: typeof v === "string" ? v : JSON.stringify(v) };
}

const nanos = (ms: number) => String(BigInt(Math.round(ms * 1000)) * 1000n);

/** One nbox span in OTLP/JSON form (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding). */
export function toOtlpSpan(s: Span) {
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
    name: s.op || s.name,
    kind: 1,
    startTimeUnixNano: nanos(s.start),
    endTimeUnixNano: nanos(s.end),
    attributes: [
      { key: "nbox.op", value: { stringValue: s.op } },
      { key: "nbox.name", value: { stringValue: s.name } },
      ...Object.entries(s.attributes ?? {}).map(([key, v]) => ({ key, value: attrValue(v) })),
    ],
    status: s.status === "error" ? { code: 2, message: s.error ? `${s.error.name}: ${s.error.message}` : "" } : { code: 1 },
  };
}

/**
 * Exports spans to an OpenTelemetry collector over OTLP/HTTP JSON (`NBOX_OTLP_ENDPOINT`,
 * e.g. http://localhost:4318). Batched and off the call path; a failing collector never fails a call.
 */
export class OtlpHttpSink implements SpanSink {
  private queue: Span[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> = Promise.resolve();
  private warned = false;
  readonly url: string;

  constructor(endpoint: string, readonly serviceName = process.env.OTEL_SERVICE_NAME ?? "nbox") {
    this.url = endpoint.replace(/\/+$/, "").endsWith("/v1/traces") ? endpoint : `${endpoint.replace(/\/+$/, "")}/v1/traces`;
    // The batch timer does not hold the process open; send what is left when it is about to exit.
    process.on("beforeExit", () => {
      if (this.queue.length > 0) void this.flush();
    });
  }

  push(span: Span): void {
    this.queue.push(span);
    if (this.queue.length > MAX_QUEUE) this.queue.splice(0, this.queue.length - MAX_QUEUE);
    if (this.queue.length >= MAX_BATCH) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), FLUSH_MS);
      this.timer.unref(); // exporting must never keep a process alive
    }
  }

  /** Send everything queued now (also called on process exit paths by whoever owns the sink). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue.splice(0);
    if (batch.length === 0) return this.sending;
    this.sending = this.sending.then(() => this.send(batch));
    return this.sending;
  }

  private async send(batch: Span[]): Promise<void> {
    for (let i = 0; i < batch.length; i += MAX_BATCH) {
      const body = {
        resourceSpans: [
          {
            resource: { attributes: [{ key: "service.name", value: { stringValue: this.serviceName } }] },
            scopeSpans: [{ scope: { name: "nbox" }, spans: batch.slice(i, i + MAX_BATCH).map(toOtlpSpan) }],
          },
        ],
      };
      try {
        const res = await fetch(this.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        await res.arrayBuffer();
      } catch (err) {
        if (!this.warned) {
          this.warned = true;
          process.emitWarning(`nbox tracing: OTLP export to ${this.url} failed (${(err as Error).message}); later failures are not reported`);
        }
      }
    }
  }
}
