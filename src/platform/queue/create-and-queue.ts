// Where a trigger's runs go: into the queue, or straight to a worker waiting on an empty one.
import type { PlatformContext } from "../context.ts";
import type { CreateRunInput } from "../store/index.ts";
import type { RunRow } from "../store/schema.ts";

/**
 * New runs of deployment `deploymentId`, queued — or, when a worker is waiting on the empty queue,
 * created already claimed by it and handed over (one statement and one wake-up fewer per call).
 */
export async function createAndQueue(ctx: PlatformContext, deploymentId: string, inputs: CreateRunInput[]): Promise<RunRow[]> {
  const taker = ctx.handoff?.(deploymentId, inputs.length);
  if (!taker) {
    const runs = await ctx.store.createRuns(inputs);
    await ctx.queue.enqueue(runs);
    return runs;
  }
  let runs: RunRow[] = [];
  try {
    runs = await ctx.store.createRuns(inputs, { claimedBy: { workerId: taker.workerId, leaseMs: ctx.config.leaseMs } });
    return runs;
  } finally {
    taker.deliver(runs);
  }
}
