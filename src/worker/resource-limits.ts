import { parseMemory } from "../lib/quantity.ts";

/**
 * Node flags that enforce `resource.memory` on a worker process: the V8 heap limit (what a
 * JavaScript job can actually exhaust). A job over it dies with "heap out of memory" and its
 * run fails like any crash. `cpu` is recorded but not enforced on this platform (no cgroups).
 */
export function workerExecArgv(resource: { memory?: unknown }): string[] {
  if (typeof resource.memory !== "string") return [];
  const mib = Math.max(16, Math.floor(parseMemory(resource.memory) / 1024 ** 2));
  return [`--max-old-space-size=${mib}`];
}
