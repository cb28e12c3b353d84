/** Error codes of the store; the API layer maps them to HTTP statuses. */
export const STORE_ERROR_STATUS = {
  BAD_INPUT: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  LOCKED: 423,
} as const;
export type StoreErrorCode = keyof typeof STORE_ERROR_STATUS;

export class StoreError extends Error {
  override name = "StoreError";
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    readonly hint?: string,
    opts?: { cause?: unknown },
  ) {
    super(message, opts);
  }
  get status(): number {
    return STORE_ERROR_STATUS[this.code];
  }
}
