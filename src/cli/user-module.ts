// nbox itself runs as compiled JavaScript; users write TypeScript. The TypeScript loader (tsx) is
// installed only when a command imports a user's module, so commands that never do start fast.
import { pathToFileURL } from "node:url";

let loaderReady: Promise<void> | undefined;

function ensureTypeScriptLoader(): Promise<void> {
  // Already loaded through `node --import tsx` (tests, development): registering twice would run
  // every module through two loader chains.
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)];
  if (flags.some((a) => a.includes("tsx"))) return Promise.resolve();
  loaderReady ??= import("tsx/esm/api").then(({ register }) => void register());
  return loaderReady;
}

/** Import a user's module (`.ts`, `.mts`, `.js`…) by absolute path. */
export async function importUserModule(absPath: string): Promise<Record<string, unknown>> {
  await ensureTypeScriptLoader();
  return (await import(pathToFileURL(absPath).href)) as Record<string, unknown>;
}
