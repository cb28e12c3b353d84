// nbox itself runs as compiled JavaScript; users write TypeScript. The TypeScript loader (tsx) is
// installed only when a command imports a user's module, so commands that never do start fast.
import { pathToFileURL } from "node:url";
import { namedExports } from "../operator/module-exports.ts";
import { tsxOnCommandLine } from "../lib/tsx-on-command-line.ts";

let loaderReady: Promise<void> | undefined;
/** tsx's package entry: the loader `node --import tsx` installs (it has no type declarations). */
const TSX_LOADER = "tsx";

function ensureTypeScriptLoader(): Promise<void> {
  if (tsxOnCommandLine()) return Promise.resolve();
  // All of tsx, as `node --import tsx` installs it: ESM hooks and require hooks (a project that is not
  // an ESM package has its TypeScript compiled to CommonJS, whose requires only the latter see).
  loaderReady ??= import(TSX_LOADER).then(() => undefined);
  return loaderReady;
}

/** Import a user's module (`.ts`, `.mts`, `.js`…) by absolute path: its exports by name (CommonJS ones too). */
export async function importUserModule(absPath: string): Promise<Record<string, unknown>> {
  await ensureTypeScriptLoader();
  return namedExports((await import(pathToFileURL(absPath).href)) as Record<string, unknown>);
}
