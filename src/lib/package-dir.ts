import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** This nbox package's folder (`src/lib/..` or `dist/lib/..`): bin/nbx.js, and what bundles link as `node_modules/nbox`. */
export const NBOX_PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
