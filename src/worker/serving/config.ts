// What the serving host hands a serving process: which deployment version to load and how to
// serve it.

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
}
