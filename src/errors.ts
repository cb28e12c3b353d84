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

/**
 * An nbox error with a code (→ HTTP status) and a hint saying how to fix it.
 * @example throw new NboxError("NOT_FOUND", 'deployment "foo" not found in workspace "w"', "Deploy it first: nbx deploy ops.ts:foo")
 */
export class NboxError extends Error {
  override name = "NboxError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint?: string,
    opts?: { cause?: unknown },
  ) {
    super(hint ? `${message}. ${hint}` : message, opts);
  }
  get status(): number {
    return ERROR_STATUS[this.code];
  }
  toJSON() {
    return { name: this.name, code: this.code, message: this.message, hint: this.hint };
  }
}

export function isNboxError(e: unknown): e is NboxError {
  return e instanceof Error && e.name === "NboxError" && typeof (e as NboxError).code === "string";
}
