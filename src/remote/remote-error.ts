// Errors that came back from the platform, a job run or a serving, rebuilt on the caller's side.
// One base (RemoteError) and one subclass per failure a caller may want to catch on its own; each
// subclass stands for one code of the closed list, so `instanceof` and `code` always agree.
import { isBrandedError, NBOX_ERROR_BRAND, toErrorCode, type ErrorCode } from "../errors.ts";

/** The error part of a failed answer: `{ ok: false, error: { code, name, message, stack? } }`. */
export interface WireErrorBody {
  code?: string;
  name?: string;
  message?: string;
  stack?: string;
}

const REMOTE_BRAND = Symbol.for("nbox.remote-error");

/**
 * An error from the other side: user code that threw (`code` "USER_CODE", `remoteName` its class
 * name, `remoteStack` its stack relative to the bundle), or a platform condition with its code.
 * `instanceof` works across two loaded copies of nbox (brand + code, not the prototype chain).
 * @example
 * try { await fooRemote(1) } catch (e) { if (e instanceof RemoteError && e.remoteName === "TypeError") … }
 */
export class RemoteError extends Error {
  /** The one code instances of a subclass carry; RemoteError itself takes it from the wire. */
  static readonly code: ErrorCode | undefined = undefined;
  override name = "RemoteError";
  readonly code: ErrorCode;
  /** Name of the original error class (e.g. "TypeError"). */
  readonly remoteName: string;
  readonly remoteStack?: string;
  /** HTTP status of the answer, when it came over HTTP. */
  readonly status?: number;
  /** How long the platform asked to wait before asking again (its Retry-After), when it said. */
  readonly retryAfterMs?: number;

  constructor(remote: WireErrorBody, readonly runId?: string, opts?: { cause?: unknown; status?: number; code?: ErrorCode; retryAfterMs?: number }) {
    const fixed = (new.target as typeof RemoteError).code;
    const code = fixed ?? opts?.code ?? toErrorCode(remote.code, opts?.status ?? 500);
    const name = remote.name ?? "Error";
    const text = remote.message ?? "(no message)";
    // User errors read like the original (`TypeError: x`); platform errors are their message.
    // The run is named once: platform messages often name it already ("run r_1 was cancelled").
    const where = runId && !text.includes(runId) ? ` (run ${runId})` : "";
    super(`${code === "USER_CODE" ? `${name}: ${text}` : text}${where}`, opts?.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.remoteName = name;
    if (opts?.status !== undefined) this.status = opts.status;
    if (opts?.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs;
    if (remote.stack) {
      this.remoteStack = remote.stack;
      this.stack = `${this.constructor.name}: ${this.message}\n--- remote stack ---\n${remote.stack}`;
    }
  }

  /**
   * The error a failed answer stands for, as the most specific class its code has.
   * @example throw RemoteError.from(body.error, { status: res.status })
   */
  static from(wire: WireErrorBody | null | undefined, opts: { status?: number; runId?: string; cause?: unknown; retryAfterMs?: number } = {}): RemoteError {
    const body = wire ?? { message: opts.status === undefined ? "request failed" : `HTTP ${opts.status}` };
    const code = toErrorCode(body.code, opts.status ?? 500);
    const Class = BY_CODE[code] ?? RemoteError;
    return new Class(body, opts.runId, { status: opts.status, cause: opts.cause, code, retryAfterMs: opts.retryAfterMs });
  }

  /** Brand and code, not the prototype chain: two copies of nbox, or an NboxError of the same code. */
  static override [Symbol.hasInstance](x: unknown): boolean {
    if (!(x instanceof Error)) return false;
    if (this.code === undefined) return Function.prototype[Symbol.hasInstance].call(this, x) || isRemote(x, this);
    return isBrandedError(x) && x.code === this.code;
  }
}
for (const brand of [REMOTE_BRAND, NBOX_ERROR_BRAND]) Object.defineProperty(RemoteError.prototype, brand, { value: true });

/** Another copy's RemoteError (its own prototype chain): recognised by brand and class name. */
function isRemote(x: Error, cls: Function): boolean {
  if ((x as unknown as Record<symbol, unknown>)[REMOTE_BRAND] !== true) return false;
  if (cls.name === "RemoteError") return true;
  for (let p = Object.getPrototypeOf(x); p; p = Object.getPrototypeOf(p)) if (p.constructor?.name === cls.name) return true;
  return false;
}

/** The run was cancelled (`run.cancel()`, `nbx cancel`) before it finished. */
export class RunCancelledError extends RemoteError {
  static override readonly code = "CANCELLED" as const;
  override name = "RunCancelledError";
}

/** The run or call ran past its timeout (the run's `timeoutMs`, a serving's call timeout). */
export class RunTimeoutError extends RemoteError {
  static override readonly code = "TIMEOUT" as const;
  override name = "RunTimeoutError";
}

/** The process running the user code died (process.exit, a fatal signal, out of memory). */
export class WorkerCrashError extends RemoteError {
  static override readonly code = "WORKER_CRASHED" as const;
  override name = "WorkerCrashError";
}

/** No such deployment, run, serving, method or field. */
export class NotFoundError extends RemoteError {
  static override readonly code = "NOT_FOUND" as const;
  override name = "NotFoundError";
}

/** Missing, invalid or revoked token. */
export class UnauthorizedError extends RemoteError {
  static override readonly code = "UNAUTHORIZED" as const;
  override name = "UnauthorizedError";
}

const BY_CODE: Partial<Record<ErrorCode, new (remote: WireErrorBody, runId?: string, opts?: { cause?: unknown; status?: number; code?: ErrorCode }) => RemoteError>> = {
  CANCELLED: RunCancelledError,
  TIMEOUT: RunTimeoutError,
  WORKER_CRASHED: WorkerCrashError,
  NOT_FOUND: NotFoundError,
  UNAUTHORIZED: UnauthorizedError,
};
