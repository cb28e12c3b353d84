// Waiting without blocking: a pause of some milliseconds, or one turn of the event loop (pending I/O
// and timers run first) between pieces of long work on a thread that also answers requests.

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A pause that ends early when `signal` aborts (resolves either way). The abort listener goes with
 * the pause: a loop pausing on a long-lived signal (a worker's life) must not pile listeners on it.
 */
export function sleepUnless(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    if (signal.aborted) return done();
    signal.addEventListener("abort", done, { once: true });
  });
}
