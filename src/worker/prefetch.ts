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

/** The most calls that wait in a process behind its running call. */
export const MAX_CALLS_BEHIND = 8;
/**
 * How long the last call waiting behind a running one may expect to wait: well within a short call's
 * length, after which a call still waiting is taken back (it would wait behind a call turned long).
 */
const BEHIND_WAIT_MS = SHORT_CALL_MS / 4;

/**
 * How many calls may wait behind a running one in its process while calls take `averageCallMs`: as
 * many as start within BEHIND_WAIT_MS at that pace, at least one, at most MAX_CALLS_BEHIND. A process
 * that has its next calls already runs them back to back — no wake-up per call and its answers leave
 * together — where one call at a time cost each run a round trip and two wake-ups of each process.
 */
export function callsBehind(averageCallMs: number | undefined): number {
  if (averageCallMs === undefined) return 1;
  return Math.min(MAX_CALLS_BEHIND, Math.max(1, Math.floor(BEHIND_WAIT_MS / Math.max(averageCallMs, 0.001))));
}

/**
 * Attempts worth executing at once on `slots` process slots: while calls are short, a running call
 * per slot and the calls waiting behind it (callsBehind), so each starts the moment the one ahead
 * ends instead of a round trip between this worker and the process later.
 */
export function executesFor(slots: number, callsAreShort: boolean, averageCallMs: number | undefined): number {
  return callsAreShort ? slots * (1 + callsBehind(averageCallMs)) : slots;
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
