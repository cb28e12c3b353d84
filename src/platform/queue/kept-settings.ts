// Queue settings (a deployment's concurrency, a schedule's job scheduler) that could not reach
// Redis: the store already holds what was deployed, so the latest setting per key is kept and
// applied once Redis answers, and the deploy that asked for it does not fail.
import { RedisUnavailableError } from "./bullmq-queue.ts";

export class KeptSettings {
  private readonly kept = new Map<string, () => Promise<void>>();
  /** Said once per outage. */
  private waiting = false;

  constructor(private readonly log: (message: string) => void) {}

  /** Settings waiting for Redis. */
  get size(): number {
    return this.kept.size;
  }

  /** Apply now; kept (replacing an earlier setting of `key`) when Redis is away. Other errors throw. */
  async apply(key: string, set: () => Promise<void>): Promise<void> {
    this.kept.delete(key);
    try {
      await set();
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
      if (!this.waiting) this.log(`queue settings wait for Redis (${err.message}); they are applied when it is back`);
      this.waiting = true;
      this.kept.set(key, set);
    }
  }

  /** Redis answers again: apply what is kept, in order; what fails again stays for the next time. */
  async reconnected(): Promise<void> {
    for (const [key, set] of [...this.kept]) {
      try {
        await set();
        if (this.kept.get(key) === set) this.kept.delete(key);
      } catch (err) {
        if (err instanceof RedisUnavailableError) return;
        this.kept.delete(key);
        this.log(`a queue setting (${key}) could not be applied: ${(err as Error).message}`);
      }
    }
    this.waiting = this.kept.size > 0;
  }
}
