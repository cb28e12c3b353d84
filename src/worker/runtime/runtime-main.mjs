// Entry of every user process, job worker or serving (spawned by runtime-process.ts). Plain JS so
// it can install the TypeScript loader before anything written in TypeScript is imported. The
// loader is skipped for a version compiled ahead (nothing it loads is TypeScript) and when tsx is
// already loaded via execArgv or NODE_OPTIONS (registering twice would run every module through two
// loader chains).
import { existsSync } from "node:fs";
import { register as registerHooks } from "node:module";

const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)];
// NBOX_TS_LOADER=off (protocol.ts, LOADER_ENV): the worker compiled this version's modules ahead,
// so they load as plain JavaScript. It is the runtime's own setting, not the user's: taken out of
// the environment user code sees.
const compiledAhead = process.env.NBOX_TS_LOADER === "off";
delete process.env.NBOX_TS_LOADER;
const tsxLoaded = flags.some((a) => a.includes("tsx"));

// tsx's hooks module (`tsx/esm`, what `node --import tsx/esm` installs) registered directly: tsx's
// API module would first load esbuild's JavaScript API and tsx's require hooks on this thread, which
// the hooks thread loads again for itself — about a tenth of a CPU-second of every cold start. The
// hooks take their options as `data` (none needed: tsconfig found as tsx finds it). Synchronous, so
// no message is handled before the loader is in place. (tsx is pinned to one minor release.)
function prepareLoading(loader) {
  if (loader) {
    try {
      registerHooks("tsx/esm", { parentURL: import.meta.url, data: {} });
    } catch (err) {
      process.stderr.write(`nbox runtime: could not install the TypeScript loader (tsx): ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(70);
    }
  }
  // Stack traces name the user's own files, lines and columns: through the loader's maps, or the
  // ones compiled ahead beside each module. (After nbox's own modules: their maps are not read.)
  process.setSourceMapsEnabled(true);
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
  prepareLoading(!tsxLoaded && !compiledAhead);
} else {
  // The runtime's own TypeScript (nbox run from its sources) needs the loader whatever the user's needs.
  prepareLoading(!tsxLoaded);
  await import("./child.js");
}
