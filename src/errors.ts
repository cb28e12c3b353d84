/** Error codes nbox raises, with the HTTP status each maps to (declared once). */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  BAD_ARGS: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  TIMEOUT: 504,
  UNAVAILABLE: 503,
  USER_CODE: 500,
  INTERNAL: 500,
} as const;
export type ErrorCode = keyof typeof ERROR_STATUS;

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
}

export function isNboxError(e: unknown): e is NboxError {
  return e instanceof Error && e.name === "NboxError" && typeof (e as NboxError).code === "string";
}
