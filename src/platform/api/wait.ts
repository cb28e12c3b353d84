import { NboxError } from "../../errors.ts";
import type { PlatformContext } from "../context.ts";
import type { FinishedRun } from "../store/runs-repo.ts";
import { TERMINAL_RUN_STATUSES, type RunRow } from "../store/schema.ts";

/**
 * How often waits read the store for finishes they may not have heard: `recheckMs` while nothing
 * is heard, `fullReadMs` for every run a poll over many runs watches. Runs finished through another
 * control plane sharing a Postgres store are never heard here, so those are read often. The
 * embedded store belongs to this process alone (its data folder is locked) and every finish in it
 * is announced here: it is read only as a safety net (reading a large fan-out's thousands of
 * watched runs every second cost more than running them).
 */
export function storeRechecks(ctx: Pick<PlatformContext, "store">): { recheckMs: number; fullReadMs: number } {
  return hearsEveryFinish(ctx) ? { recheckMs: 5_000, fullReadMs: 10_000 } : { recheckMs: 500, fullReadMs: 1_000 };
}

/** Whether every finish in the store is announced in this process (the embedded store: its data folder is locked to it). */
export const hearsEveryFinish = (ctx: Pick<PlatformContext, "store">): boolean => ctx.store.kind === "pglite";

export const isTerminal = (r: Pick<RunRow, "status">) => (TERMINAL_RUN_STATUSES as readonly string[]).includes(r.status);

/**
 * Long-poll: the run once it is terminal, or as it is when `ms` elapse. A row heard from its finish
 * has no args: present it with presentRuns, which reads them if the answer shows them.
 */
export async function waitForRun(ctx: PlatformContext, id: string, ms: number, signal?: AbortSignal, known?: FinishedRun): Promise<FinishedRun> {
  const deadline = Date.now() + ms;
  const { recheckMs } = storeRechecks(ctx);
  for (;;) {
    // Listen before reading, so a finish between the read and the wait is not missed.
    const wake = ctx.events.waitFor("finished", id, Math.max(0, Math.min(deadline - Date.now(), recheckMs)), signal);
    // A row the caller just wrote (e.g. a new queued run) saves the first read.
    const run = known ?? (await ctx.store.getRun(id));
    known = undefined;
    if (!run) throw new NboxError("NOT_FOUND", `run ${id} not found`);
    if (isTerminal(run) || Date.now() >= deadline || signal?.aborted) {
      return run;
    }
    // The finisher sends the finished row with the wake-up: no read back for the common case.
    const finished = await wake;
    if (finished) return finished;
  }
}
