// Waiting without blocking: a pause of some milliseconds, or one turn of the event loop (pending I/O
// and timers run first) between pieces of long work on a thread that also answers requests.

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
