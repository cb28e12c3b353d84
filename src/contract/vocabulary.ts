// The closed lists and shapes the API speaks in: run and serving states, token scopes, deployment
// types, log streams, span states, and the stored error. The store's columns, the API's schemas, the
// worker and the SDK all use these; this file imports nothing, so none of them loads the others.

export const RUN_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled", "timed_out"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL_RUN_STATUSES = ["succeeded", "failed", "cancelled", "timed_out"] as const satisfies readonly RunStatus[];
export type TerminalRunStatus = (typeof TERMINAL_RUN_STATUSES)[number];
export const ACTIVE_RUN_STATUSES = ["queued", "running"] as const satisfies readonly RunStatus[];

export const TOKEN_SCOPES = ["admin", "workspace", "serving", "worker"] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

export const DEPLOYMENT_TYPES = ["job", "serving"] as const;
export type DeploymentType = (typeof DEPLOYMENT_TYPES)[number];

/** What the bundle's export is (manifest `kind`). */
export const DEPLOYMENT_KINDS = ["fn", "class", "operator", "instance"] as const;
export type DeploymentKind = (typeof DEPLOYMENT_KINDS)[number];

export const LOG_STREAMS = ["stdout", "stderr", "system"] as const;
export type LogStream = (typeof LOG_STREAMS)[number];

export const SPAN_STATUSES = ["ok", "error"] as const;
export type SpanStatus = (typeof SPAN_STATUSES)[number];

export const SERVING_STATUSES = ["starting", "ready", "crashed", "stopped"] as const;
export type ServingStatus = (typeof SERVING_STATUSES)[number];

/** Event kinds the platform itself emits; the column accepts any string so new kinds need no migration. */
export const EVENT_KINDS = [
  "deployment.created",
  "deployment.updated",
  "serving.started",
  "serving.crashed",
  "serving.restarted",
  "serving.stopped",
  "schedule.fired",
  "schedule.missed",
  "run.recovered",
] as const;
export type EventKind = (typeof EVENT_KINDS)[number] | (string & {});

/** Error as stored on a run / span / event: the wire shape `{ name, message, stack? }`. */
export interface StoredError {
  name: string;
  message: string;
  stack?: string;
  [extra: string]: unknown;
}

/** How a worker runs user processes: under bubblewrap (its path), or not (and why). */
export type SandboxStatus = { kind: "bwrap"; bwrap: string } | { kind: "none"; reason: string };
