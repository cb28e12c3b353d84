// Bundling: collect a project's files, pack them with a manifest, extract safely, install deps.
export {
  BundleHashMismatchError,
  BundleLimitError,
  BundleTooLargeError,
  DependencyInstallError,
  ManifestError,
  UnsafeBundleError,
} from "./errors.ts";
export {
  MANIFEST_FILE,
  MANIFEST_FORMAT_VERSION,
  validateManifest,
  type BundleKind,
  type BundleManifest,
  type DeploymentType,
  type ManifestInput,
} from "./manifest.ts";
export { findProjectRoot } from "./find-root.ts";
export { ALWAYS_EXCLUDED, collectFiles, type CollectedFile, type CollectOptions, type CollectResult } from "./collect.ts";
export {
  DEFAULT_MAX_BUNDLE_BYTES,
  dryRunManifest,
  packBundle,
  type DryRunResult,
  type PackOptions,
  type PackResult,
} from "./pack.ts";
export { extractBundle, type ExtractOptions } from "./extract.ts";
export { checkHash, readBundleManifest, verifyBundle, type VerifiedBundle } from "./verify.ts";
export { verifyBundleInThread } from "./verify-thread.ts";
export { DEFAULT_BUNDLE_LIMITS, resolveLimits, type BundleLimitName, type BundleLimits } from "./limits.ts";
export { ContentHasher, manifestFields, type ManifestFields } from "./content-hash.ts";
export type { BundleSource } from "./chunk-reader.ts";
export { installDependencies, stripLockfile, stripPackageJson, type InstallOptions, type InstallResult } from "./install.ts";
export { formatBytes } from "./format.ts";
