// Limits on what an untrusted bundle may expand to. They are checked while the archive is read (a header
// that declares too much stops the read before its bytes are inflated), so a small upload can never
// make the platform inflate, hash or write more than these.

export type BundleLimits = {
  /** Inflated archive size (file bytes plus tar headers). */
  maxUnpackedBytes: number;
  /** Files, links and folders (explicit or implied by a path), together. */
  maxEntries: number;
  /** One file's size. */
  maxFileBytes: number;
  /** Characters in an entry path or link target. */
  maxPathLength: number;
  /** Folder levels of an entry path. */
  maxDepth: number;
};

/** A limit's key, named in errors so callers can say which setting to raise. */
export type BundleLimitName = keyof BundleLimits;

/**
 * Defaults. Bundles never contain node_modules (dependencies are installed on the platform), so real
 * projects are far below these: the SDK refuses to pack more than 100 MiB, a large source tree has a
 * few thousand files. 1 GiB / 256 MiB leave room for data files shipped with the code; 50,000 entries
 * keeps the cost of creating inodes (and of the bookkeeping per entry) to seconds, not minutes.
 * 1024 characters / 64 levels are well inside what every filesystem accepts below the extraction folder.
 */
export const DEFAULT_BUNDLE_LIMITS: Readonly<BundleLimits> = {
  maxUnpackedBytes: 1024 * 1024 * 1024,
  maxEntries: 50_000,
  maxFileBytes: 256 * 1024 * 1024,
  maxPathLength: 1024,
  maxDepth: 64,
};

/** nbox.json is read into memory, so it has its own small cap (manifests are a few KiB). */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

export function resolveLimits(limits: Partial<BundleLimits> = {}): BundleLimits {
  return {
    maxUnpackedBytes: limits.maxUnpackedBytes ?? DEFAULT_BUNDLE_LIMITS.maxUnpackedBytes,
    maxEntries: limits.maxEntries ?? DEFAULT_BUNDLE_LIMITS.maxEntries,
    maxFileBytes: limits.maxFileBytes ?? DEFAULT_BUNDLE_LIMITS.maxFileBytes,
    maxPathLength: limits.maxPathLength ?? DEFAULT_BUNDLE_LIMITS.maxPathLength,
    maxDepth: limits.maxDepth ?? DEFAULT_BUNDLE_LIMITS.maxDepth,
  };
}
