/**
 * Servings: one child process per deployed serving behind `/s/<workspace>/<name>/`.
 *
 * @example
 * const platform = await startPlatform({ port: 0, dataDir }); // hosts servings by default
 * const bar = await Bar.deploy("ws"); await bar.inc(); await bar.x
 */
export { createServingHost, LocalServingHost, downstreamPath } from "./host.ts";
export type { ServingHostOptions } from "./host.ts";
export { createServingApp } from "./app.ts";
export type { ServingApp, ServingAppOptions } from "./app.ts";
export { CallQueue, CallTimeoutError } from "./call-queue.ts";
export { surfaceOf, reachable } from "./surface.ts";
export type { Surface, WhoAreYou, MethodInfo } from "./surface.ts";
export { DEFAULT_CALL_TIMEOUT_MS, DEFAULT_STARTUP_TIMEOUT_MS, SECRET_HEADER } from "./protocol.ts";
export type { ServingHost } from "./types.ts";
