import { CodedError } from "../../errors.ts";
/** Error codes of the store; the API layer maps them to HTTP statuses. */
export const STORE_ERROR_STATUS = {
  BAD_INPUT: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  LOCKED: 423,
} as const;
export type StoreErrorCode = keyof typeof STORE_ERROR_STATUS;

export class StoreError extends CodedError<StoreErrorCode> {
  override name = "StoreError";
  constructor(code: StoreErrorCode, message: string, hint?: string, opts?: { cause?: unknown }) {
    super(STORE_ERROR_STATUS, code, message, hint, opts);
  }
}
