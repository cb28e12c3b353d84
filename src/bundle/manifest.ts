// The bundle manifest, stored as `nbox.json` at the root of every bundle tarball.
// It tells the platform which module/export to load and how to run it; it is validated on both ends.
import { ManifestError } from "./errors.ts";

export const MANIFEST_FORMAT_VERSION = 1;

/** File name of the manifest inside the bundle (reserved: a project file with this name at the root is an error). */
export const MANIFEST_FILE = "nbox.json";

export type BundleKind = "fn" | "class" | "operator" | "instance";
export type DeploymentType = "job" | "serving";

export type BundleManifest = {
  formatVersion: 1;
  /** Module that defines the operator, relative to the bundle root, posix separators (e.g. "ops.ts"). */
  entry: string;
  /** Name of the export that holds the operator. */
  export: string;
  kind: BundleKind;
  /** Constructor/init args, already codec-encoded wire values; opaque JSON here. */
  init: unknown[];
  type: DeploymentType;
  name: string;
  resource: Record<string, unknown>;
  schedule: Record<string, unknown> | null;
  /** sha256 (hex) over the bundled files and every other manifest field. */
  contentHash: string;
  /** sha256 (hex) of package-lock.json, or null when the project has none. */
  lockfileHash: string | null;
  /** Field snapshot per dotted operator name (kind "operator"), re-applied with thaw on the worker. */
  state?: Record<string, Record<string, unknown>>;
  /** Callable surface recorded at deploy time: forward's parameters and, for classes, methods and fields. */
  signature?: Record<string, unknown>;
  /** Operator options such as a serving's `concurrency`. */
  options?: Record<string, unknown>;
};

/** What a caller supplies to pack: everything except the hashes (computed) and formatVersion (fixed). */
export type ManifestInput = Omit<BundleManifest, "formatVersion" | "contentHash" | "lockfileHash"> & {
  formatVersion?: 1;
};

const KINDS: readonly string[] = ["fn", "class", "operator", "instance"];
const TYPES: readonly string[] = ["job", "serving"];
const HEX64 = /^[0-9a-f]{64}$/;

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function fail(field: string, why: string): never {
  throw new ManifestError(`invalid bundle manifest: field "${field}" ${why}`);
}

/** Checks that `entry` is a safe relative posix path (no absolute, no "..", no backslashes). */
export function isSafeRelativePath(p: string): boolean {
  if (p === "" || p.startsWith("/") || p.includes("\\") || p.includes("\0") || /^[a-zA-Z]:/.test(p)) return false;
  return p.split("/").every((seg) => seg !== ".." && seg !== "." && seg !== "");
}

/** Validates an untrusted value (parsed nbox.json) and returns it typed; throws ManifestError naming the bad field. */
export function validateManifest(x: unknown): BundleManifest {
  if (!isPlainObject(x)) throw new ManifestError("invalid bundle manifest: expected a JSON object");
  if (x.formatVersion !== MANIFEST_FORMAT_VERSION) {
    fail("formatVersion", `must be ${MANIFEST_FORMAT_VERSION} (got ${JSON.stringify(x.formatVersion)}); this platform may be older or newer than the SDK`);
  }
  if (typeof x.entry !== "string" || !isSafeRelativePath(x.entry)) {
    fail("entry", `must be a relative posix path inside the bundle (got ${JSON.stringify(x.entry)})`);
  }
  if (typeof x.export !== "string" || x.export === "") fail("export", "must be a non-empty string");
  if (typeof x.kind !== "string" || !KINDS.includes(x.kind)) fail("kind", `must be one of ${KINDS.join(", ")}`);
  if (!Array.isArray(x.init)) fail("init", "must be an array");
  if (typeof x.type !== "string" || !TYPES.includes(x.type)) fail("type", `must be one of ${TYPES.join(", ")}`);
  if (typeof x.name !== "string" || x.name === "") fail("name", "must be a non-empty string");
  if (!isPlainObject(x.resource)) fail("resource", "must be an object");
  if (x.schedule !== null && !isPlainObject(x.schedule)) fail("schedule", "must be an object or null");
  if (typeof x.contentHash !== "string" || !HEX64.test(x.contentHash)) fail("contentHash", "must be a sha256 hex string");
  if (x.lockfileHash !== null && (typeof x.lockfileHash !== "string" || !HEX64.test(x.lockfileHash))) {
    fail("lockfileHash", "must be a sha256 hex string or null");
  }
  for (const key of ["state", "signature", "options"] as const) {
    if (x[key] !== undefined && !isPlainObject(x[key])) fail(key, "must be an object when present");
  }
  // Rebuild with known keys only, so unknown extra fields never leak through.
  return {
    formatVersion: MANIFEST_FORMAT_VERSION,
    entry: x.entry,
    export: x.export,
    kind: x.kind as BundleManifest["kind"],
    init: x.init,
    type: x.type as BundleManifest["type"],
    name: x.name,
    resource: x.resource,
    schedule: x.schedule as BundleManifest["schedule"],
    contentHash: x.contentHash,
    lockfileHash: x.lockfileHash as string | null,
    ...(x.state !== undefined ? { state: x.state as BundleManifest["state"] } : {}),
    ...(x.signature !== undefined ? { signature: x.signature as Record<string, unknown> } : {}),
    ...(x.options !== undefined ? { options: x.options as Record<string, unknown> } : {}),
  };
}
