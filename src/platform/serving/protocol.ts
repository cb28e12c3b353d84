// What the platform (parent) and a serving child process tell each other: the spawn config (a file
// in the child's scratch folder), a few IPC messages, and the secret header that proves a request came through the
// platform's proxy (which did the auth). Declared once here, used by both sides.
import type { Span } from "../../trace/span.ts";

/**
 * Env var naming the file that holds the JSON `ServingChildConfig`. A file, not the value itself:
 * the config carries init arguments and parameter schemas, and Linux refuses to start a process
 * with any one environment string above 128 KiB.
 */
export const CONFIG_FILE_ENV = "NBOX_SERVING_CONFIG_FILE";
/** The config file's name inside the child's scratch folder (read, then removed, by the child). */
export const CONFIG_FILE_NAME = "serving-config.json";
/** Env var carrying the per-process secret the proxy sends in `SECRET_HEADER`. */
export const SECRET_ENV = "NBOX_SERVING_SECRET";
/** Header the platform proxy adds; the child refuses requests without it (403). */
export const SECRET_HEADER = "x-nbox-serving-secret";

/** Default per-call timeout when the manifest sets no `resource.timeoutMs`. */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;
/** How long a serving may take from fork to healthy before deploy() gives up. */
export const DEFAULT_STARTUP_TIMEOUT_MS = 60_000;

export interface ServingChildConfig {
  bundleDir: string;
  /** Module of the export, relative to bundleDir. */
  entry: string;
  exportName: string;
  kind: "fn" | "class" | "operator" | "instance";
  /** Constructor arguments (codec wire values). */
  init: unknown[];
  state?: Record<string, Record<string, unknown>>;
  /** Deployment name (who_are_you). */
  name: string;
  /** Deployment version id (who_are_you). */
  version: string;
  /** Per-call timeout; 0 = none. */
  timeoutMs: number;
  /** Calls run at once on the instance; 0 = unbounded. */
  concurrency: number;
  maxBodyBytes: number;
  /** Public URL of the serving (for its OpenAPI document). */
  publicUrl: string;
  /** Signature recorded at deploy time (forward of function operators). */
  signature?: Record<string, unknown>;
  /** Unix socket (named pipe on Windows) to listen on; the child falls back to 127.0.0.1:<any port> if it cannot. */
  socketPath?: string;
}

export type ChildMessage =
  | { type: "ready"; address: { socketPath: string } | { host: string; port: number }; loadMs: number }
  | { type: "load-failed"; error: { name: string; message: string; stack?: string } }
  | { type: "spans"; spans: Span[] };

export function isChildMessage(m: unknown): m is ChildMessage {
  return typeof m === "object" && m !== null && typeof (m as { type?: unknown }).type === "string";
}
