import { AsyncLocalStorage } from "node:async_hooks";
import { nowMs } from "./clock.ts";
import type { DagRecorder } from "./dag-recorder.ts";
import { newSpanId, newTraceId } from "./ids.ts";
import { JsonlSink, MemorySink, type SpanSink } from "./sinks.ts";
import { OtlpHttpSink } from "./otlp.ts";
import type { ActiveSpan, Span } from "./span.ts";
import { formatTraceParent, parseTraceParent, type TraceParent } from "./traceparent.ts";

/** What the async context carries: the running span, the operator that owns it and the DAG being recorded. */
export interface TraceFrame {
  span: ActiveSpan;
  owner?: object;
  /** Shared by every frame of one operator-tree call; its recorder is created at the first edge. */
  dag?: DagBox;
  /** Dotted path used as the prefix of child spans. */
  path: string;
}

export interface DagBox {
  recorder?: DagRecorder;
  rootName: string;
}

export interface StartOptions {
  attributes?: Record<string, unknown>;
  /** Explicit parent (e.g. from a `traceparent` header); defaults to the current span. */
  parent?: TraceParent | null;
}

/** What a span keeps of an error; never throws (a hostile error's getters must not fail the traced call). */
function errorInfo(err: unknown): Span["error"] {
  try {
    if (err instanceof Error) return { name: String(err.name), message: String(err.message), stack: err.stack === undefined ? undefined : String(err.stack) };
    return { name: "NonError", message: String(err) };
  } catch {
    return { name: "Error", message: "an error whose fields could not be read" };
  }
}

export class Tracer {
  // Small by default: spans that outlive a young-generation GC cost far more than the ring is worth.
  readonly memory = new MemorySink(Number(process.env.NBOX_TRACE_MEMORY ?? 1_000) || 1_000);
  private readonly sinks: SpanSink[] = [this.memory];
  private readonly als = new AsyncLocalStorage<TraceFrame>();
  /** Parent for root spans of this process (set by a worker from the trigger's traceparent). */
  private processParent: TraceParent | null = null;

  constructor() {
    const file = process.env.NBOX_TRACE_FILE;
    if (file) this.sinks.push(new JsonlSink(file));
    const otlp = process.env.NBOX_OTLP_ENDPOINT;
    if (otlp) this.sinks.push(new OtlpHttpSink(otlp));
  }

  addSink(sink: SpanSink): () => void {
    this.sinks.push(sink);
    return () => {
      const i = this.sinks.indexOf(sink);
      if (i >= 0) this.sinks.splice(i, 1);
    };
  }

  currentFrame(): TraceFrame | undefined {
    return this.als.getStore();
  }

  currentSpan(): ActiveSpan | undefined {
    return this.als.getStore()?.span;
  }

  /** `traceparent` header value for the current span, to propagate across process boundaries. */
  traceparent(): string | undefined {
    const span = this.currentSpan();
    return span ? formatTraceParent({ traceId: span.traceId, spanId: span.spanId, sampled: true }) : undefined;
  }

  /** Parent of a new span when no frame is active: the remote caller set by a worker, if any. */
  get rootParent(): TraceParent | null {
    return this.processParent;
  }

  /** Make root spans of this process children of a remote caller (null clears it). */
  setProcessParent(header: string | TraceParent | null): void {
    this.processParent = typeof header === "string" ? parseTraceParent(header) : header;
  }

  startSpan(op: string, name: string, opts: StartOptions = {}): ActiveSpan {
    const parent = opts.parent !== undefined ? opts.parent : (this.currentSpan() ?? this.processParent);
    return this.openSpan(op, name, parent, opts.attributes);
  }

  /** startSpan with the parent already known (the operator call path reads the frame once). */
  openSpan(op: string, name: string, parent: { traceId: string; spanId: string } | null, attributes?: Record<string, unknown>): ActiveSpan {
    return {
      traceId: parent ? parent.traceId : newTraceId(),
      spanId: newSpanId(),
      parentSpanId: parent ? parent.spanId : null,
      op,
      name,
      start: nowMs(),
      attributes: attributes ?? {},
    };
  }

  endSpan(span: ActiveSpan, error?: unknown): Span {
    // The active span becomes the finished one in place: one allocation per call, not two.
    const done = span as Span;
    done.end = nowMs();
    done.status = error === undefined ? "ok" : "error";
    if (error !== undefined) done.error = errorInfo(error);
    for (const sink of this.sinks) {
      // A failing sink (full disk, bad NBOX_TRACE_FILE path) must never fail the traced call.
      try {
        sink.push(done);
      } catch (err) {
        this.reportSinkError(sink, err);
      }
    }
    return done;
  }

  private readonly brokenSinks = new WeakSet<SpanSink>();
  private reportSinkError(sink: SpanSink, err: unknown): void {
    if (this.brokenSinks.has(sink)) return;
    this.brokenSinks.add(sink);
    process.emitWarning(`nbox tracing: span sink ${sink.constructor?.name ?? "sink"} failed (${err instanceof Error ? err.message : String(err)}); its later failures are not reported`);
  }

  /** Run `fn(...args)` with `frame` as the current trace context (args avoid a closure per call). */
  runInFrame<A extends unknown[], T>(frame: TraceFrame, fn: (...args: A) => T, ...args: A): T {
    return this.als.run(frame, fn, ...args);
  }

  /**
   * Run `fn` inside a new span (sync or async), ending it with the outcome.
   * @example await getTracer().withSpan("download", async (span) => { span.attributes.bytes = 10; })
   */
  withSpan<T>(op: string, fn: (span: ActiveSpan) => T, opts: StartOptions = {}): T {
    const parentFrame = this.currentFrame();
    const span = this.startSpan(op, op, opts);
    // Keep the enclosing operator and its path: an operator's child called inside a custom
    // span is still that operator's child (dotted span name and DAG edge).
    const frame: TraceFrame = { span, owner: parentFrame?.owner, path: parentFrame?.path ?? "", dag: parentFrame ? (parentFrame.dag ??= { recorder: undefined, rootName: parentFrame.span.name }) : undefined };
    let result: T;
    try {
      result = this.als.run(frame, () => fn(span));
    } catch (err) {
      this.endSpan(span, err);
      throw err;
    }
    if (result instanceof Promise) {
      return result.then(
        (v) => (this.endSpan(span), v),
        (err) => {
          this.endSpan(span, err);
          throw err;
        },
      ) as T;
    }
    this.endSpan(span);
    return result;
  }

  /** Spans recorded in memory for one trace, oldest first. */
  spansOf(traceId: string): Span[] {
    return this.memory.spans().filter((s) => s.traceId === traceId);
  }
}

// Keyed on globalThis so two loaded copies of nbox (SDK + a user's linked copy) share one trace context.
const TRACER_KEY = Symbol.for("nbox.tracer");
/** The process-wide tracer. */
export function getTracer(): Tracer {
  const g = globalThis as { [TRACER_KEY]?: Tracer };
  return (g[TRACER_KEY] ??= new Tracer());
}
