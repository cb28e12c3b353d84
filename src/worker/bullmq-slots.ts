// The worker's run slots: how many runs execute at once in this worker, over all deployments'
// queues together. First come, first served, so a busy queue cannot starve the others.

/** Gives a taken slot back; calling it more than once does nothing. */
export type ReleaseSlot = () => void;

/** A counting semaphore with FIFO waiters and abortable waits. */
export class Slots {
  private used = 0;
  private readonly waiters: Array<{ take: (release: ReleaseSlot) => void; owner: unknown }> = [];

  constructor(private size: number) {
    checkSize(size);
  }

  /** Change how many slots there are: more hands slots to waiters now; fewer takes effect as slots come back. */
  resize(size: number): void {
    checkSize(size);
    this.size = size;
    while (this.used < this.size && this.waiters.length > 0) {
      this.used++;
      this.waiters.shift()!.take(this.releaser());
    }
  }

  /** Slots taken right now. */
  get inUse(): number {
    return this.used;
  }

  /** A slot if one is free now (and nobody is waiting for one), else null. */
  tryAcquire(): ReleaseSlot | null {
    if (this.used >= this.size || this.waiters.length > 0) return null;
    this.used++;
    return this.releaser();
  }

  /**
   * Whether a slot `owner` holds may go on to its next task instead of coming back: the pool has not
   * shrunk below the slots taken, and nobody but `owner` itself waits for one.
   */
  mayKeep(owner: unknown): boolean {
    return this.used <= this.size && !this.waiters.some((w) => w.owner !== owner);
  }

  /** Wait for a slot; null if `signal` aborts first. `owner` names the waiter for {@link mayKeep}. */
  acquire(signal?: AbortSignal, owner?: unknown): Promise<ReleaseSlot | null> {
    if (signal?.aborted) return Promise.resolve(null);
    const now = this.tryAcquire();
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => {
      const waiter = {
        owner,
        take: (release: ReleaseSlot) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(null);
      };
      this.waiters.push(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  private releaser(): ReleaseSlot {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      // Hand the slot straight to the next waiter: the count stays, nobody can jump the line
      // (unless the pool shrank meanwhile).
      const next = this.used <= this.size ? this.waiters.shift() : undefined;
      if (next) next.take(this.releaser());
      else this.used--;
    };
  }
}

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size < 1) throw new Error(`slots must be an integer ≥ 1, got ${size}`);
}
