import type { ErrorCode } from "../errors.ts";

/**
 * The error in a serving's answer (`{ ok: false, error }`): what the worker's serving host sends and
 * the control plane's proxy answers with when the worker cannot.
 */
export interface WireError {
  /** Always set in answers; optional for errors reported from elsewhere (a child's startup failure). */
  code?: ErrorCode;
  name: string;
  message: string;
  stack?: string;
}
