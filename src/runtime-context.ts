import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { NboxError } from "./errors.ts";

/** Set in every process or thread nbox starts to run user code: "job", "serving" or "pool". */
export const RUNTIME_ENV = "NBOX_RUNTIME";

/** Which nbox runtime this process is (undefined in the user's own process). */
export function nboxRuntime(): string | undefined {
  return process.env[RUNTIME_ENV] || undefined;
}

/** The runtimes the platform starts (a pool thread runs in the user's own process). */
const PLATFORM_RUNTIMES = new Set(["job", "serving"]);

/** "job" or "serving" when the platform started this process, else undefined. */
export function platformRuntime(): string | undefined {
  const rt = nboxRuntime();
  return rt && PLATFORM_RUNTIMES.has(rt) ? rt : undefined;
}

/**
 * True when this module is the program being run (`tsx main.ts`), false when it is imported,
 * including when a worker imports it to load an operator. Guard top-level usage with it.
 * @example if (isMain(import.meta)) { const remote = await foo.deploy("ws"); console.log(await remote(10)) }
 */
export function isMain(meta: { url: string }): boolean {
  const entry = process.argv[1];
  return !!entry && !nboxRuntime() && meta.url === pathToFileURL(resolve(entry)).href;
}

/** Refuse work that must only happen in the user's own process (deploy, process pools). */
export function assertNotInRuntime(what: string): void {
  const rt = nboxRuntime();
  if (rt) {
    throw new NboxError(
      "BAD_REQUEST",
      `${what} was called while nbox loaded your module inside a ${rt} worker (top-level code runs again there)`,
      "Guard top-level usage: `if (isMain(import.meta)) { ... }` (import { isMain } from \"nbox\")",
    );
  }
}
