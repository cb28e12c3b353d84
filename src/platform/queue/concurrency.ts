// A job deployment's `resource.concurrency`: BullMQ's global concurrency of its queue.
import { concurrencyOf } from "../../lib/manifest-concurrency.ts";
import type { PlatformContext } from "../context.ts";

/**
 * Set every job deployment's limit on the queue again (at start, and when Redis is back): Redis may
 * have lost it, and a setting kept while Redis was away is lost with the control plane that kept it.
 */
export async function syncConcurrency(ctx: { store: Pick<PlatformContext["store"], "listDeployments" | "getVersion">; queue: Pick<PlatformContext["queue"], "setConcurrency"> }): Promise<void> {
  for (const d of await ctx.store.listDeployments()) {
    if (d.type !== "job" || !d.currentVersionId) continue;
    await ctx.queue.setConcurrency(d.id, concurrencyOf((await ctx.store.getVersion(d.currentVersionId))?.manifest));
  }
}
