// The folder nbox keeps reusable work in on this machine: the worker's versions and dependencies,
// and the deploy-time type readings of the SDK.
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export const CACHE_DIR_ENV = "NBOX_CACHE_DIR";

/** `$NBOX_CACHE_DIR`, else `$XDG_CACHE_HOME/nbox`, else `~/.cache/nbox`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env[CACHE_DIR_ENV]) return resolve(env[CACHE_DIR_ENV]);
  return join(env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), ".cache"), "nbox");
}
