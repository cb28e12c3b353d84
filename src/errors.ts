/**
 * Every code nbox puts on an error, declared once: API errors, serving error envelopes and the
 * SDK's error classes all use this one closed list, so callers can match on codes (or on the
 * classes built from them), never on message strings.
 */
export const ERROR_CODES = [
  "BAD_REQUEST",
  "BAD_ARGS",
  "UNAUTHORIZED",
  "FORBIDDEN",
  "NOT_FOUND",
  "CONFLICT",
  "CANCELLED",
  "PAYLOAD_TOO_LARGE",
  "RATE_LIMITED",
  "TIMEOUT",
  "UNAVAILABLE",
  "WORKER_CRASHED",
  "USER_CODE",
  "INTERNAL",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The HTTP status of each code. Where two codes share a status, the first listed is the one a bare
 * status maps back to (`codeForStatus`).
 */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  BAD_ARGS: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  CANCELLED: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  TIMEOUT: 504,
  UNAVAILABLE: 503,
  WORKER_CRASHED: 503,
  USER_CODE: 500,
  INTERNAL: 500,
} as const satisfies Record<ErrorCode, number>;

const CODES: ReadonlySet<string> = new Set(ERROR_CODES);

export function isErrorCode(x: unknown): x is ErrorCode {
  return typeof x === "string" && CODES.has(x);
}

/** The code a bare HTTP status stands for (first listed wins), INTERNAL when none does. */
export function codeForStatus(status: number): ErrorCode {
  for (const code of ERROR_CODES) if (ERROR_STATUS[code] === status) return code;
  return status >= 400 && status < 500 ? "BAD_REQUEST" : "INTERNAL";
}

/** A code from any source (a store error's own code, an older peer), mapped into the closed list. */
export function toErrorCode(code: unknown, status: number): ErrorCode {
  return isErrorCode(code) ? code : codeForStatus(status);
}

/**
 * Marks errors made by nbox (any loaded copy of it): lets the SDK's error classes recognise them
 * by brand and code, since `instanceof` across two copies of a class is false.
 */
export const NBOX_ERROR_BRAND: unique symbol = Symbol.for("nbox.error");

/** An error with a code from a const table that maps codes to HTTP statuses, and an optional hint. */
export class CodedError<C extends string> extends Error {
  declare private readonly statuses: Readonly<Record<C, number>>;
  constructor(
    statuses: Readonly<Record<C, number>>,
    readonly code: C,
    message: string,
    readonly hint?: string,
    opts?: { cause?: unknown },
  ) {
    super(message, opts);
    // Not an own enumerable field: errors are encoded with their own fields (codec, JSON).
    Object.defineProperty(this, "statuses", { value: statuses });
  }
  get status(): number {
    return this.statuses[this.code];
  }
}

/**
 * An nbox error with a code (→ HTTP status) and a hint saying how to fix it.
 * @example throw new NboxError("NOT_FOUND", 'deployment "foo" not found in workspace "w"', "Deploy it first: nbx deploy ops.ts:foo")
 */
export class NboxError extends CodedError<ErrorCode> {
  override name = "NboxError";
  constructor(code: ErrorCode, message: string, hint?: string, opts?: { cause?: unknown }) {
    // The hint is part of the message too: it reaches users through the API's one message field.
    super(ERROR_STATUS, code, hint ? `${message}. ${hint}` : message, hint, opts);
  }
  toJSON() {
    return { name: this.name, code: this.code, message: this.message, hint: this.hint };
  }

  /**
   * Any error nbox reports with a code, from this copy of nbox or another one, made here or rebuilt
   * from the wire (the SDK's RemoteError classes); not a user's own error (USER_CODE).
   */
  static override [Symbol.hasInstance](x: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, x)) return true;
    return this === NboxError && isBrandedError(x) && x.code !== "USER_CODE";
  }
}
Object.defineProperty(NboxError.prototype, NBOX_ERROR_BRAND, { value: true });

/** An NboxError, or an error nbox rebuilt from a coded answer (the SDK's RemoteError classes, not user code). */
export function isNboxError(e: unknown): e is NboxError {
  return e instanceof NboxError || (e instanceof Error && e.name === "NboxError" && typeof (e as NboxError).code === "string");
}

/** Made by some copy of nbox (NboxError, RemoteError and its subclasses), with a code from the list. */
export function isBrandedError(e: unknown): e is Error & { code: ErrorCode } {
  return e instanceof Error && (e as unknown as Record<symbol, unknown>)[NBOX_ERROR_BRAND] === true && isErrorCode((e as { code?: unknown }).code);
}
