// How far ahead of its free slots a worker holds runs, on either queue. Holding runs ahead lets one
// request (a claim, a report) carry many runs, so the round trips around a run overlap other runs'
// calls instead of leaving a process idle; holding too many keeps runs waiting here that another
// worker could start. The bound is time: about PREFETCH_WORK_MS of calls per slot at the current pace.

/**
 * Calls shorter than this on average make holding runs ahead worth it: the control-plane round trips
 * around a run then cost as much as the run. Longer calls would keep runs held ahead waiting behind
 * them while another worker may be idle.
 */
export const SHORT_CALL_MS = 100;
/** Runs held per slot before the pace of calls is known, and the least while calls are short. */
export const PREFETCH_PER_SLOT = 4;
export const MAX_PREFETCH_PER_SLOT = 256;
export const PREFETCH_WORK_MS = 500;

/** The most runs per slot worth holding ahead when calls take `averageCallMs` on average. */
export function prefetchCap(averageCallMs: number | undefined): number {
  const callMs = Math.max(1, averageCallMs ?? PREFETCH_WORK_MS);
  return Math.min(MAX_PREFETCH_PER_SLOT, Math.max(PREFETCH_PER_SLOT, Math.floor(PREFETCH_WORK_MS / callMs)));
}

/**
 * Attempts worth executing at once on `slots` process slots: while calls are short, one more per
 * slot, sent behind a running call of its version so it starts the moment that one ends instead of
 * a round trip between this worker and the process later.
 */
export function executesFor(slots: number, callsAreShort: boolean): number {
  return callsAreShort ? slots * 2 : slots;
}

/**
 * Call `onLong` if the call that starts now is still running after a short call's length. Returns
 * the call's end: whether it had turned long.
 */
export function watchCallLength(onLong: () => void, longCallMs = SHORT_CALL_MS): () => boolean {
  let long = false;
  const timer = setTimeout(() => {
    long = true;
    onLong();
  }, longCallMs);
  return () => {
    clearTimeout(timer);
    return long;
  };
}
