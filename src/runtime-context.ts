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

/** Where the child runtime leaves its way to ask the worker for a fresh token (shared by every copy of nbox loaded in the process). */
const TOKEN_RENEWER = Symbol.for("nbox.runtimeTokenRenewer");
type Renewer = () => Promise<string | undefined>;
let renewing: Promise<string | undefined> | undefined;

/** Set by the child runtime of a job or serving process: asks the worker for the workspace's token as it is now. */
export function setRuntimeTokenRenewer(renew: Renewer): void {
  (globalThis as Record<symbol, unknown>)[TOKEN_RENEWER] = renew;
}

/**
 * In a job or serving process whose injected token the platform refused (it was revoked, say
 * because it leaked): the workspace's token now, which the platform mints again for this worker,
 * also set as NBOX_TOKEN. undefined when there is none to be had (outside a runtime, or the worker
 * could not get one); rejects with the reason when the worker was told why (a re-mint refused for
 * now). Requests refused at the same moment share one question.
 */
export async function renewRuntimeToken(refused: string): Promise<string | undefined> {
  const now = process.env.NBOX_TOKEN;
  if (now !== undefined && now !== refused) return now; // renewed already, by a request before this one
  const renew = (globalThis as Record<symbol, unknown>)[TOKEN_RENEWER] as Renewer | undefined;
  if (!platformRuntime() || typeof renew !== "function") return undefined;
  renewing ??= renew()
    .then((token) => {
      if (token) process.env.NBOX_TOKEN = token;
      return token || undefined;
    })
    .finally(() => (renewing = undefined));
  return renewing;
}
