import { NboxError } from "../../errors.ts";
import type { PlatformContext } from "../context.ts";
import type { FinishedRun } from "../store/runs-repo.ts";
import { TERMINAL_RUN_STATUSES, type RunRow } from "../store/schema.ts";

// Other processes (scale path) cannot signal us in-process: re-read the store at this pace too.
export const STORE_RECHECK_MS = 500;

export const isTerminal = (r: Pick<RunRow, "status">) => (TERMINAL_RUN_STATUSES as readonly string[]).includes(r.status);

/**
 * Long-poll: the run once it is terminal, or as it is when `ms` elapse. A row heard from its finish
 * has no args: present it with presentRuns, which reads them if the answer shows them.
 */
export async function waitForRun(ctx: PlatformContext, id: string, ms: number, signal?: AbortSignal, known?: FinishedRun): Promise<FinishedRun> {
  const deadline = Date.now() + ms;
  for (;;) {
    // Listen before reading, so a finish between the read and the wait is not missed.
    const wake = ctx.events.waitFor("finished", id, Math.max(0, Math.min(deadline - Date.now(), STORE_RECHECK_MS)), signal);
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
