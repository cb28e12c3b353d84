// Redis can lose the queue's data while the connection stays up (FLUSHALL, a restore from an older
// snapshot, an eviction policy). No reconnect reports it: cron would stop for good, deployment limits
// would vanish, and queued runs would wait for the stranded-runs check. The queue sets a mark key in
// Redis; every so often it is looked for, and when it is gone everything the store holds is set on the
// queue again (the mark first, so a loss during that resync is seen the next time).

const EVERY_MS = 15_000;

export interface LostDataWatchDeps {
  held(): Promise<boolean>;
  mark(): Promise<void>;
  /** Queued runs, schedules and limits, from the store, onto the queue again. */
  resync(): Promise<void>;
  log(message: string): void;
}

export class LostDataWatch {
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(private readonly d: LostDataWatchDeps) {}

  start(): void {
    // Marked now: data lost from here on is seen by the first check.
    void this.d.mark().catch(() => {}); // Redis away: the reconnect marks it
    this.timer ??= setInterval(() => {
      if (this.checking) return;
      this.checking = true;
      // Redis away: the reconnect resyncs and marks; nothing to add here.
      this.check()
        .catch(() => {})
        .finally(() => (this.checking = false));
    }, EVERY_MS).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** true when the data was found lost (and set again). */
  async check(): Promise<boolean> {
    if (await this.d.held()) return false;
    await this.d.mark();
    this.d.log("Redis lost the queue's data while connected (FLUSHALL, a restore, an eviction policy?): queued runs, schedules and deployment limits are set again from the store");
    await this.d.resync();
    return true;
  }
}
