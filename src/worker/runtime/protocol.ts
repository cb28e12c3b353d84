// The one IPC protocol between the platform (parent, runtime-process.ts) and a child runtime
// (child.ts), for jobs and servings alike: load a deployment version once, then calls by id.
// Every user value crosses as codec wire (or plain JSON when an HTTP caller asked for it), so the
// parent stores or answers it as-is; errors carry stacks relative to the bundle.
import type { ErrorCode } from "../../errors.ts";
import type { OperatorLocator } from "../../operator/locate.ts";
import type { RecordedSignature } from "../../schema/types.ts";
import type { Span } from "../../trace/span.ts";
import type { SurfaceInfo } from "./surface.ts";

/**
 * job: calls come one at a time, their output is marked so lines are attributed to the call, and
 * an error thrown outside the call's own chain (a timer) fails the call in flight.
 * serving: calls may overlap, output is not attributed, a stray error is logged and serving goes on.
 */
export type RuntimeMode = "job" | "serving";

/** How results are encoded: the tagged codec (jobs, the SDK) or plain JSON (any HTTP client). */
export type ValueEncoding = "plain" | "tagged";

/** Parent → child, first and once: build the target. */
export interface LoadMessage {
  type: "load";
  mode: RuntimeMode;
  /** Extracted bundle directory (also the child's cwd); a relative `locator.file` is resolved against it. */
  bundleDir: string;
  locator: OperatorLocator;
  /** Serving name: in refusal messages and the `serving` attribute of the child's spans. */
  name?: string;
  /** Signature recorded at deploy: parameters and schemas of the surface (serving mode). */
  signature?: RecordedSignature;
  /** Parent for spans made while loading (e.g. `remote-init`), normally the cold-start span. */
  traceparent?: string;
  /** Serving mode: calls run at once on the instance (0 = no limit), in arrival order. */
  concurrency?: number;
  /** Serving mode: per-call limit in ms (0 = none); a late call keeps running, its slot is freed. */
  timeoutMs?: number;
  /** The per-process nonce of the output markers (over IPC: the environment is readable in /proc). */
  markerNonce: string;
  /** `locator.file` is the version's entry compiled ahead (compile/compile-version.ts): nothing it loads needs a TypeScript loader. */
  compiledAhead?: boolean;
}

/** One operation on the loaded target. */
export type CallOp =
  /** A job run: the target itself (`callAsJob`), or one of its methods. */
  | { kind: "job"; args: unknown[]; method?: string }
  /**
   * A batched run: the job's calls one after the other, each with its own outcome (`{ ok: true,
   * value }` or `{ ok: false, error }`, the error as codec wire). Outcomes go out as `progress`
   * every few ms while the calls run; the answer lists the ones not sent yet.
   */
  | { kind: "calls"; calls: unknown[][]; method?: string }
  | { kind: "forward"; args: unknown[] }
  | { kind: "method"; name: string; args: unknown[] }
  /** Read an attribute on the live instance (getters and Proxy traps are user code). */
  | { kind: "get"; name: string }
  | { kind: "set"; name: string; value: unknown }
  /** Is `name` a writable field right now? (answers a boolean) */
  | { kind: "writable"; name: string }
  /** The instance's public fields right now (answers string[]). */
  | { kind: "fields" }
  /** Answers `{ queued }` (calls waiting for the instance) once the child's event loop gets to it (health checks). */
  | { kind: "ping" }
  /** Call generator method `name`; `stream` is the parent's id for it in later steps. */
  | { kind: "stream-start"; stream: number; name: string; args: unknown[] }
  /** Answers `{ done: true }` or `{ done: false, value }`. */
  | { kind: "stream-next"; stream: number }
  /** Stop a stream (the caller went away): the generator's `return()`. */
  | { kind: "stream-return"; stream: number };

/**
 * Parent → child: one call. In job mode the child runs calls one at a time in arrival order (the
 * parent may send the next while one runs, so it starts without waiting for a round trip); in
 * serving mode it runs the ones that touch the instance through its FIFO.
 */
export interface CallMessage {
  type: "call";
  id: number;
  op: CallOp;
  /** W3C traceparent of the caller: the call's span becomes its child. */
  traceparent?: string;
  /** Encoding of the result value (default tagged). */
  encoding?: ValueEncoding;
}

/** Parent → child, job mode: take back call `id` if it is still waiting behind the running one. */
export interface DropMessage {
  type: "drop";
  id: number;
}

/** Parent → child: the workspace's token now, the answer to `token-renew` (null: none to be had). */
export interface TokenMessage {
  type: "token";
  token: string | null;
  /** Why there is none, when the worker was told (a re-mint refused for now, say). */
  why?: string;
}

export type ParentMessage = LoadMessage | CallMessage | DropMessage | TokenMessage;

export interface ReadyMessage {
  type: "ready";
  /** Child-measured: process start → target built and remote-initialised. */
  coldStartMs: number;
  /** Child-measured: import + materialize + remoteInit only. */
  loadMs: number;
  /** Serving mode: what the target exposes. */
  surface?: SurfaceInfo;
}

export interface LoadFailedMessage {
  type: "load-failed";
  /** Codec wire of the Error. */
  error: unknown;
}

/** Whom output belongs to: a call id, the load, or nobody (between calls, or overlapping calls). */
export type Owner = number | "load" | null;

export interface SpansMessage {
  type: "spans";
  owner: Owner;
  spans: Span[];
}

/** `marked` (job mode): the call printed, so its end markers follow on both streams; without it there are none to wait for. */
export type ResultMessage =
  | { type: "result"; id: number; ok: true; value: unknown; marked?: boolean }
  /**
   * `refused`: the op did not run or did not finish (unknown or private name, not a generator, past
   * its timeout…); `dropped`: a job call taken back before it started; `error` says why.
   */
  | { type: "result"; id: number; ok: false; error: unknown; refused?: ErrorCode; dropped?: boolean; marked?: boolean };

/**
 * Child → parent: the next outcomes of batched call `id`, in order (see CallOp `calls`). The
 * parent keeps them: if the process dies or is stopped, the calls they answer keep their outcome.
 */
export interface ProgressMessage {
  type: "progress";
  id: number;
  outcomes: unknown[];
}

/** Child → parent: the platform refused the injected token (revoked); the parent answers with `token`. */
export interface TokenRenewMessage {
  type: "token-renew";
}

export type ChildMessage = ReadyMessage | LoadFailedMessage | SpansMessage | ResultMessage | ProgressMessage | TokenRenewMessage;

/**
 * Stdout/stderr marker lines: the child writes `<prefix>begin:<owner>` before the load and before
 * a job call's first output and `<prefix>end:<owner>` after the call, on both streams (a call that
 * printed nothing has none); output a call's async context prints after it returned (a timer, a
 * logger flushing) opens a frame of that call's again, so the parent attributes lines by
 * their position in the stream rather than by when they arrive (pipes and IPC are not ordered with
 * each other). The prefix carries a per-process random nonce, sent in the load message (never in the
 * environment, which /proc/self/environ shows), so user output cannot fake one. (User code that digs
 * into the stdout stream's internals can still see a marker pass: it could then misattribute its own
 * lines among the calls of its own process.)
 */
export const markerPrefix = (nonce: string): string => `\u001enbox-exec:${nonce}:`;

export function isChildMessage(m: unknown): m is ChildMessage {
  if (m === null || typeof m !== "object") return false;
  const t = (m as { type?: unknown }).type;
  return t === "ready" || t === "load-failed" || t === "spans" || t === "result" || t === "progress" || t === "token-renew";
}

export function isParentMessage(m: unknown): m is ParentMessage {
  if (m === null || typeof m !== "object") return false;
  const t = (m as { type?: unknown }).type;
  return t === "load" || t === "call" || t === "drop" || t === "token";
}

/** How often a batched run's child sends the outcomes of its calls so far (at a call's end, at most this often). */
export const PROGRESS_MS = 10;

/** Set in an unsandboxed user (or compile) process's environment to its parent's pid: it watches that parent from a thread. */
export const WATCH_PARENT_ENV = "NBOX_WATCH_PARENT";

/** The value of WATCH_PARENT_ENV for a process this one starts: its parent's pid. */
export const watchThisParent = (): string => String(process.pid);

/** The parent to watch, from WATCH_PARENT_ENV; undefined when there is none to watch. */
export function parentToWatch(env: NodeJS.ProcessEnv): number | undefined {
  const pid = Number(env[WATCH_PARENT_ENV]);
  return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
}

/** Set to "off" when the process's version was compiled ahead (compile/compile-version.ts): runtime-main.mjs installs no TypeScript loader. */
export const LOADER_ENV = "NBOX_TS_LOADER";
