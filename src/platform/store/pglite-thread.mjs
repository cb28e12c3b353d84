// Entry of the embedded store's thread. Plain JS so that, run from nbox's TypeScript sources, it can
// install the TypeScript loader first (Node 20 does not hand the parent's `--import tsx` hooks to
// worker threads); the compiled package has no .ts beside it and loads its JavaScript directly.
import { existsSync } from "node:fs";

if (existsSync(new URL("./pglite-host.ts", import.meta.url))) (await import("tsx/esm/api")).register();
const { hostPglite } = await import("./pglite-host.js");
await hostPglite();
