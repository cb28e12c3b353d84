export { getTracer, Tracer, type TraceFrame, type StartOptions } from "./tracer.ts";
export type { Span, ActiveSpan, SpanStatus } from "./span.ts";
export { MemorySink, JsonlSink, type SpanSink } from "./sinks.ts";
export { formatTraceParent, parseTraceParent, type TraceParent } from "./traceparent.ts";
export { DagRecorder, type DagEdge } from "./dag-recorder.ts";
export { OtlpHttpSink, toOtlpSpan } from "./otlp.ts";
