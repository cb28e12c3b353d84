// A run queued in the store with no job in BullMQ would never be delivered. No known path leaves one
// behind, but Redis can lose keys (restored from an older snapshot, an eviction policy, an operator's
// cleanup) and a bug must not strand runs for good: every so often the next page of queued runs is
// checked, and those without a job are added again. Pages go round the whole queue over time.
import type { Store } from "../store/index.ts";
import type { RunRow } from "../store/schema.ts";

// A run younger than this may have its add still under way (or kept while Redis is away).
const GRACE_MS = 60_000;
const PAGE = 1_000;
const EVERY_MS = 30_000;

export interface StrandedRunsDeps {
  store: Pick<Store, "listRuns" | "getRuns">;
  /** Ids of these runs that have no job in the queue. */
  withoutJob(runs: readonly RunRow[]): Promise<string[]>;
  /** Queue them again. */
  add(runs: readonly RunRow[]): Promise<void>;
  log(message: string): void;
}

export class StrandedRuns {
  /** Where the next page starts (newest first; undefined: from the newest). */
  private before: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  constructor(private readonly d: StrandedRunsDeps) {}

  start(): void {
    this.timer ??= setInterval(() => {
      if (this.checking) return;
      this.checking = true;
      this.check()
        .catch((err) => this.d.log(`checking queued runs for lost jobs failed (tried again later): ${(err as Error).message}`))
        .finally(() => (this.checking = false));
    }, EVERY_MS).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Check the next page of queued runs; the ids added again. */
  async check(now = Date.now()): Promise<string[]> {
    const page = await this.d.store.listRuns({ status: "queued", limit: PAGE, ...(this.before ? { before: this.before } : {}) });
    this.before = page.length === PAGE ? page[page.length - 1]!.id : undefined;
    const settled = page.filter((r) => r.createdAt < now - GRACE_MS);
    if (settled.length === 0) return [];
    const missing = await this.d.withoutJob(settled);
    if (missing.length === 0) return [];
    // Claimed or finished meanwhile (its job completed between the read and the check): not stranded.
    const stranded = (await this.d.store.getRuns(missing)).filter((r) => r.status === "queued");
    if (stranded.length === 0) return [];
    await this.d.add(stranded);
    this.d.log(`${stranded.length} queued run(s) had no job in Redis and were queued again (${stranded.slice(0, 3).map((r) => r.id).join(", ")}${stranded.length > 3 ? ", …" : ""})`);
    return stranded.map((r) => r.id);
  }
}
