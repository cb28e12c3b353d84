// Error classes for bundling. Each has a stable `name` so callers (CLI, API) can map them to messages/status codes.
import type { BundleLimitName } from "./limits.ts";

/** The manifest (nbox.json) is missing a field or has a field of the wrong shape. */
export class ManifestError extends Error {
  override name = "ManifestError";
}

/** The bundle would exceed the size limit; the message lists the largest files and how to exclude them. */
export class BundleTooLargeError extends Error {
  override name = "BundleTooLargeError";
  constructor(
    message: string,
    readonly totalBytes: number,
    readonly maxBytes: number,
    readonly largest: { path: string; size: number }[],
  ) {
    super(message);
  }
}

/** A tarball contains an entry that could write outside the destination (or a device/fifo). Nothing is extracted. */
export class UnsafeBundleError extends Error {
  override name = "UnsafeBundleError";
  constructor(
    message: string,
    readonly entry?: string,
  ) {
    super(message);
  }
}

/** Installing the bundle's npm dependencies failed; the message ends with the tail of npm's output. */
export class DependencyInstallError extends Error {
  override name = "DependencyInstallError";
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
  }
}

/** The archive goes over one of the reading limits; nothing beyond the limit was read. */
export class BundleLimitError extends UnsafeBundleError {
  override name = "BundleLimitError";
  constructor(
    message: string,
    readonly limit: BundleLimitName,
    readonly max: number,
  ) {
    super(message);
  }
}

/** The archive's content does not hash to the hash it was stored or asked for under. */
export class BundleHashMismatchError extends Error {
  override name = "BundleHashMismatchError";
  constructor(
    message: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(message);
  }
}
