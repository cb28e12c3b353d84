// IPC protocol between the executor (parent) and one worker child process (runtime.ts).
// Messages travel over the fork() channel with `serialization: "advanced"` (structured clone),
// but every user value is codec wire (JSON-safe) so the parent can store it as-is.
import type { OperatorLocator } from "../../operator/locate.ts";
import type { Span } from "../../trace/span.ts";

/** Parent → child: build the operator once for this process. */
export interface LoadMessage {
  type: "load";
  /** Extracted bundle directory (also the child's cwd); a relative `locator.file` is resolved against it. */
  bundleDir: string;
  locator: OperatorLocator;
  /** Parent for spans made while loading (e.g. `remote-init`), normally the cold-start span. */
  traceparent?: string;
}

/** Parent → child: one call. The child runs one call at a time. */
export interface RunMessage {
  type: "run";
  runId: string;
  /** Codec wire values. */
  args: unknown[];
  /** W3C traceparent of the caller: the run's root span becomes its child. */
  traceparent?: string;
  /** Call a method of the loaded target instead of calling it (for wrapped classes). */
  method?: string;
}

export type ParentMessage = LoadMessage | RunMessage;

export interface ReadyMessage {
  type: "ready";
  /** Child-measured: process start → operator built and remote-initialised. */
  coldStartMs: number;
  /** Child-measured: import + materialize + remoteInit only. */
  loadMs: number;
}

export interface LoadFailedMessage {
  type: "load-failed";
  /** Codec wire of the Error. */
  error: unknown;
}

export interface SpanMessage {
  type: "span";
  /** null: the span finished while loading (belongs to the cold start). */
  runId: string | null;
  span: Span;
}

export type ResultMessage =
  | { type: "result"; runId: string; ok: true; value: unknown }
  | { type: "result"; runId: string; ok: false; error: unknown };

export type ChildMessage = ReadyMessage | LoadFailedMessage | SpanMessage | ResultMessage;

/**
 * Stdout/stderr marker lines: the child writes `<prefix>begin:<runId>` before a run and
 * `<prefix>end:<runId>` after it on both streams, so the parent attributes lines by their
 * position in the stream rather than by when they arrive (pipes and IPC are not ordered with
 * each other). The prefix carries a per-process random nonce so user output cannot fake one.
 */
export const MARKER_ENV = "NBOX_EXEC_MARKER";
export const markerPrefix = (nonce: string): string => `\u001enbox-exec:${nonce}:`;

export function isChildMessage(m: unknown): m is ChildMessage {
  if (m === null || typeof m !== "object") return false;
  const t = (m as { type?: unknown }).type;
  return t === "ready" || t === "load-failed" || t === "span" || t === "result";
}

export function isParentMessage(m: unknown): m is ParentMessage {
  if (m === null || typeof m !== "object") return false;
  const t = (m as { type?: unknown }).type;
  return t === "load" || t === "run";
}
