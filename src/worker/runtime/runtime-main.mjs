// Entry of every user process, job worker or serving (spawned by runtime-process.ts). Plain JS so
// it can install the TypeScript loader before anything written in TypeScript is imported. The
// loader is skipped when tsx is already loaded via execArgv or NODE_OPTIONS (registering twice
// would run every module through two loader chains).
import { existsSync } from "node:fs";
import { register as registerHooks } from "node:module";

const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)];
const loader = !flags.some((a) => a.includes("tsx"));

// tsx's hooks module (`tsx/esm`, what `node --import tsx/esm` installs) registered directly: tsx's
// API module would first load esbuild's JavaScript API and tsx's require hooks on this thread, which
// the hooks thread loads again for itself — about a tenth of a CPU-second of every cold start. The
// hooks take their options as `data` (none needed: tsconfig found as tsx finds it). Synchronous, so
// no message is handled before the loader is in place. (tsx is pinned to one minor release.)
function register() {
  try {
    registerHooks("tsx/esm", { parentURL: import.meta.url, data: {} });
    process.setSourceMapsEnabled(true);
  } catch (err) {
    process.stderr.write(`nbox runtime: could not install the TypeScript loader (tsx): ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(70);
  }
}

// Compiled, the runtime itself is plain JavaScript: imported before the loader is installed, its
// modules skip the loader's hooks (a tenth of a second of every cold start). So is nbox's public
// entry, first: the user's `import "nbox"` (a link to this very package) then finds its modules
// loaded instead of taking each one through the loader's thread (near another tenth). The user's
// bundle is imported only when `load` arrives, and no message can be handled between the runtime's
// evaluation (which starts listening) and the line after it.
if (existsSync(new URL("./child.js", import.meta.url))) {
  await import("../../index.js");
  await import("./child.js");
  if (loader) register();
} else {
  if (loader) register();
  await import("./child.js");
}
