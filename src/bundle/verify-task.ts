// What crosses the thread boundary when an upload is verified on a worker thread: the task, and a
// reply that carries either the result or the error's fields, rebuilt into the same error class.
import { BundleHashMismatchError, BundleLimitError, ManifestError, UnsafeBundleError } from "./errors.ts";
import type { BundleLimits } from "./limits.ts";
import { verifyBundle, type VerifiedBundle } from "./verify.ts";

export type VerifyTask = { file: string; expectedHash: string; limits?: Partial<BundleLimits> };
type WireError = { name: string; message: string; limit?: BundleLimitError["limit"]; max?: number; expected?: string; actual?: string; entry?: string };
export type VerifyReply = { ok: true; value: VerifiedBundle } | { ok: false; error: WireError };

/** Runs on the worker thread. */
export async function runVerifyTask(task: VerifyTask): Promise<VerifyReply> {
  try {
    return { ok: true, value: await verifyBundle(task.file, task.expectedHash, task.limits) };
  } catch (e) {
    const err = e as Error & Omit<WireError, "name" | "message">;
    return { ok: false, error: { name: err.name, message: err.message, limit: err.limit, max: err.max, expected: err.expected, actual: err.actual, entry: err.entry } };
  }
}

/** Back on the calling thread: the error as the bundle module throws it. */
export function errorFromReply(e: WireError): Error {
  switch (e.name) {
    case "BundleLimitError":
      return new BundleLimitError(e.message, e.limit!, e.max!);
    case "BundleHashMismatchError":
      return new BundleHashMismatchError(e.message, e.expected!, e.actual!);
    case "UnsafeBundleError":
      return new UnsafeBundleError(e.message, e.entry);
    case "ManifestError":
      return new ManifestError(e.message);
    default:
      return Object.assign(new Error(e.message), { name: e.name });
  }
}
