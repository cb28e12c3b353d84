import { NboxError } from "../../errors.ts";
import type { PlatformContext } from "../context.ts";
import { TERMINAL_RUN_STATUSES, type RunRow } from "../store/schema.ts";

// Other processes (scale path) cannot signal us in-process: re-read the store at this pace too.
const STORE_RECHECK_MS = 500;
// Gathering a burst of finishes: 1 ms per this many watched runs, at most BURST_MAX_MS.
const BURST_IDS_PER_MS = 200;
const BURST_MAX_MS = 10;

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
    // The finisher sends the finished row with the wake-up: no read back for the common case.
    const finished = await wake;
    if (finished) return finished;
  }
}

/** Long-poll for many runs: those among `ids` that are terminal, as soon as at least one is (or [] at the deadline). */
export async function waitForAny(ctx: PlatformContext, ids: string[], ms: number, signal?: AbortSignal): Promise<RunRow[]> {
  const deadline = Date.now() + ms;
  const wanted = new Set(ids);
  // Runs heard finishing, with their rows when the finisher sent them: after the first read only
  // those heard without a row are read back, not every watched id.
  let heard = new Map<string, RunRow | undefined>();
  let wake: (() => void) | undefined;
  const onFinished = (id: string, row?: RunRow) => {
    if (!wanted.has(id)) return;
    heard.set(id, row);
    wake?.();
  };
  ctx.events.on("finished", onFinished);
  try {
    let done = await ctx.store.getRuns(ids, { terminalOnly: true });
    while (done.length === 0 && Date.now() < deadline && !signal?.aborted) {
      const rechecked = await new Promise<boolean>((resolve) => {
        const finish = (timedOut: boolean) => {
          clearTimeout(t);
          signal?.removeEventListener("abort", onAbort);
          wake = undefined;
          resolve(timedOut);
        };
        const onAbort = () => finish(false);
        const t = setTimeout(() => finish(true), Math.max(0, Math.min(deadline - Date.now(), STORE_RECHECK_MS)));
        wake = () => finish(false);
        signal?.addEventListener("abort", onAbort, { once: true });
        if (heard.size > 0 || signal?.aborted) finish(false);
      });
      if (signal?.aborted) break;
      if (heard.size > 0) {
        // Runs of a fan-out finish in bursts: gather more before reading them all at once (longer
        // for more watched runs: a large fan-out wants throughput, one run wants its answer now).
        await new Promise((r) => setTimeout(r, Math.min(BURST_MAX_MS, ids.length / BURST_IDS_PER_MS)));
        const batch = heard;
        heard = new Map();
        done = [...batch.values()].filter((row): row is RunRow => row !== undefined);
        const unknown = [...batch].flatMap(([id, row]) => (row ? [] : [id]));
        if (unknown.length) done.push(...(await ctx.store.getRuns(unknown, { terminalOnly: true })));
      } else if (rechecked) {
        // Nothing heard: runs finished through another control plane announce themselves only here.
        done = await ctx.store.getRuns(ids, { terminalOnly: true });
      }
    }
    return done;
  } finally {
    ctx.events.off("finished", onFinished);
  }
}
