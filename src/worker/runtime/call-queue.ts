// Calls on one serving instance run one at a time (or `limit` at a time) in arrival order.
// A call that outlives its timeout gives its slot back: the caller gets a TimeoutError, the
// queue moves on, and the hung call keeps running in the background (JavaScript cannot stop
// it), so whatever it does to the instance's state later lands between later calls.

export class CallTimeoutError extends Error {
  override name = "TimeoutError";
  constructor(
    readonly label: string,
    readonly timeoutMs: number,
  ) {
    super(`${label} did not finish within ${timeoutMs} ms`);
  }
}

/**
 * A FIFO limiter: `run(fn)` waits for a slot, runs `fn`, frees the slot when `fn` settles or
 * its timeout fires. A freed slot goes straight to the oldest waiter (no overtaking).
 * @example const q = new CallQueue(1); await Promise.all([q.run(() => a()), q.run(() => b())]) // a, then b
 */
export class CallQueue {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  /** `limit` 0 or Infinity = no limit. */
  constructor(readonly limit: number) {}

  get pending(): number {
    return this.waiting.length;
  }

  async run<T>(fn: () => T | Promise<T>, opts: { timeoutMs?: number; label?: string } = {}): Promise<T> {
    if (this.limit > 0 && (this.active >= this.limit || this.waiting.length > 0)) {
      await new Promise<void>((r) => this.waiting.push(r)); // the slot is handed over, `active` unchanged
    } else this.active++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    };
    const t = opts.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    try {
      const work = Promise.resolve().then(fn);
      if (!t || !Number.isFinite(t)) return await work;
      work.catch(() => {}); // a late failure of a timed-out call is nobody's to report
      return await Promise.race([
        work,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new CallTimeoutError(opts.label ?? "call", t)), t))),
      ]);
    } finally {
      clearTimeout(timer);
      release();
    }
  }
}
