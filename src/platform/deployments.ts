import { validateManifest, type BundleManifest } from "../bundle/index.ts";
import { NboxError } from "../errors.ts";

export function parseManifest(x: unknown): BundleManifest {
  try {
    return validateManifest(x);
  } catch (err) {
    throw new NboxError("BAD_REQUEST", (err as Error).message);
  }
}
