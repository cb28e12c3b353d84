import { NboxError } from "../../errors.ts";
import type { PlatformContext } from "../context.ts";
import { TERMINAL_RUN_STATUSES, type RunRow } from "../store/schema.ts";

// Other processes (scale path) cannot signal us in-process: re-read the store at this pace too.
const STORE_RECHECK_MS = 500;
const BURST_MS = 2;

export const isTerminal = (r: RunRow) => (TERMINAL_RUN_STATUSES as readonly string[]).includes(r.status);

/** Long-poll: the run once it is terminal, or as it is when `ms` elapse. */
export async function waitForRun(ctx: PlatformContext, id: string, ms: number, signal?: AbortSignal, known?: RunRow): Promise<RunRow> {
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
    // The finisher sends the final fields with the wake-up: no read back for the common case.
    const final = await wake;
    if (final) return { ...run, ...final };
  }
}

/** Long-poll for many runs: those among `ids` that are terminal, as soon as at least one is (or [] at the deadline). */
export async function waitForAny(ctx: PlatformContext, ids: string[], ms: number, signal?: AbortSignal): Promise<RunRow[]> {
  const deadline = Date.now() + ms;
  const wanted = new Set(ids);
  for (;;) {
    const wake = ctx.events.waitForAny(wanted, Math.max(0, Math.min(deadline - Date.now(), STORE_RECHECK_MS)), signal);
    const done = await ctx.store.getRuns(ids, { terminalOnly: true });
    if (done.length > 0 || Date.now() >= deadline || signal?.aborted) return done;
    await wake;
    // Runs of a fan-out finish in bursts: gather a few more before reading them all at once.
    await new Promise((r) => setTimeout(r, BURST_MS));
  }
}
