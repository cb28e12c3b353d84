// TypeScript compiled to CommonJS needs tsx's require hooks. A user project whose package.json is not
// `"type": "module"` (`npm init` writes `"type": "commonjs"`) has its .ts files compiled to CommonJS,
// and their `import "./x.ts"` become `require` calls that Node's CommonJS loader makes, which the ESM
// hooks the runtime installs never see. Installed only for such projects: ESM projects, the common
// case, do not pay for loading them.
import { createRequire } from "node:module";
import path from "node:path";
import { packageTypeAt } from "../../lib/package-type.ts";
import { tsxOnCommandLine } from "../../lib/tsx-on-command-line.ts";

let installed = false;

/** Install tsx's require hooks when the project at `bundleDir` is not an ESM package. */
export function useCommonJsLoaderFor(bundleDir: string): void {
  if (installed || isEsmPackage(bundleDir) || tsxOnCommandLine()) return;
  createRequire(import.meta.url)("tsx/cjs");
  installed = true;
}

function isEsmPackage(dir: string): boolean {
  try {
    return packageTypeAt(path.join(dir, "package.json")) === "module";
  } catch {
    return false;
  }
}
