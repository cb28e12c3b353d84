// Bundling: collect a project's files, pack them with a manifest, extract safely, install deps (DESIGN §3).
export { BundleTooLargeError, DependencyInstallError, ManifestError, UnsafeBundleError } from "./errors.ts";
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
export { DEFAULT_MAX_EXTRACT_BYTES, extractBundle, type ExtractOptions } from "./extract.ts";
export { installDependencies, stripLockfile, stripPackageJson, type InstallOptions, type InstallResult } from "./install.ts";
export { formatBytes } from "./format.ts";
