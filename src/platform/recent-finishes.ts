// Which runs finished in this process lately. On the embedded store every finish happens in this
// process and announces itself, so a run created after `since` that is not here has not finished:
// a wait over runs just added to it need not read them from the store.
import { idTime } from "./store/ids.ts";

// Ids kept (~80 bytes each); beyond this the earliest finishes are forgotten and `since` moves on.
const MAX_IDS = 100_000;

export class RecentFinishes {
  private readonly ids = new Set<string>();
  /** Every run created at or after this (epoch ms) that finished is in the set. */
  private since: number;

  constructor(
    now = Date.now(),
    private readonly max = MAX_IDS,
  ) {
    this.since = now;
  }

  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size <= this.max) return;
    // Forget the earliest tenth; runs created up to the newest of them may now be finished unseen.
    let n = Math.ceil(this.max / 10);
    for (const old of this.ids) {
      if (n-- === 0) break;
      this.ids.delete(old);
      const t = idTime(old);
      this.since = Math.max(this.since, Number.isFinite(t) ? t + 1 : Date.now());
    }
  }

  /** False only when run `id` surely has not finished (in a store this process alone writes). */
  mayHaveFinished(id: string): boolean {
    if (this.ids.has(id)) return true;
    const t = idTime(id);
    return !(Number.isFinite(t) && t >= this.since);
  }
}
