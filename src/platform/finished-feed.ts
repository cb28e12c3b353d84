import { randomBytes } from "node:crypto";

/**
 * The ids of runs this control plane heard finishing, in order, for a while. A long-poll over many
 * runs resumes from a position in this feed: it reads back only the runs heard finishing since,
 * not every run it watches (a fan-out of 1,000 runs polls hundreds of times).
 */
export class FinishedFeed {
  /** Positions are only meaningful within one process's lifetime. */
  readonly epoch = randomBytes(4).toString("hex");
  private ids: string[] = [];
  /** Position of ids[0]; position n is the n-th id heard (1-based). */
  private first = 1;

  constructor(private readonly keep = 100_000) {}

  /** Position of the last id heard (0 before any). */
  get position(): number {
    return this.first + this.ids.length - 1;
  }

  push(id: string): void {
    this.ids.push(id);
    // Dropping the oldest half at once keeps push amortised O(1).
    if (this.ids.length >= 2 * this.keep) {
      const drop = this.ids.length - this.keep;
      this.ids = this.ids.slice(drop);
      this.first += drop;
    }
  }

  /** Ids heard after `position`, or null when the feed no longer reaches back that far (or it is not ours). */
  since(position: number): string[] | null {
    if (!Number.isInteger(position) || position < this.first - 1 || position > this.position) return null;
    return this.ids.slice(position - this.first + 1);
  }
}
