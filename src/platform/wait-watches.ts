// A long-poll over many runs (remote map's one poll for all its runs in flight) listens through a
// watch that outlives its answer for a moment: the caller polls again at once, and the runs that
// finished in between are then in hand — not read back from the store.
import { randomBytes } from "node:crypto";
import type { RunEvents } from "./run-events.ts";
import type { FinishedRun } from "./store/runs-repo.ts";

// How long a watch keeps listening after its answer, waiting for the caller's next poll.
const LINGER_MS = 3_000;
// Watches kept listening at once, in all and per caller (token); beyond that the oldest stops (its
// caller's next poll reads the store). One caller cannot push out everyone else's.
const MAX_LINGERING = 256;
const MAX_LINGERING_PER_OWNER = 32;

export class Watch {
  /** Names the watch in the poll's cursor (unguessable: another caller's poll cannot take it). */
  readonly token = randomBytes(9).toString("base64url");
  wanted: Set<string>;
  /** Who polls through it (a token id): only its own next poll takes it over. */
  readonly owner: string;
  /** Watched runs heard finishing and not answered yet, with their rows when the finisher sent them. */
  heard = new Map<string, FinishedRun | undefined>();
  /** Set by a poll waiting on this watch: called when a watched run is heard finishing. */
  wake: (() => void) | undefined;

  constructor(owner: string, ids: Iterable<string>) {
    this.owner = owner;
    this.wanted = new Set(ids);
  }

  readonly onFinished = (id: string, row?: FinishedRun): void => {
    if (!this.wanted.has(id)) return;
    this.heard.set(id, row);
    this.wake?.();
  };

  /** The runs of the last answer, until the caller's next poll shows it arrived (ids only: a watch left behind holds no results). */
  private answered: { seq: number; ids: string[] } = { seq: 0, ids: [] };

  /** What was heard, leaving nothing. */
  take(): Map<string, FinishedRun | undefined> {
    const heard = this.heard;
    this.heard = new Map();
    return heard;
  }

  /** An answer goes out; returns its number (the caller's next poll names it). */
  answer(rows: readonly FinishedRun[]): number {
    for (const row of rows) this.heard.delete(row.id);
    this.answered = { seq: this.answered.seq + 1, ids: rows.map((row) => row.id) };
    return this.answered.seq;
  }

  /**
   * The caller's next poll names the last answer it received. An older one: the last answer never
   * arrived (the caller gave up on that poll), so its runs are answered again (read back).
   * `dropAnswered`: the poll names no ids, so the watch itself keeps track of what is still wanted.
   */
  acknowledge(seq: number, opts: { dropAnswered: boolean }): void {
    if (seq !== this.answered.seq) {
      for (const id of this.answered.ids) if (this.wanted.has(id) && !this.heard.has(id)) this.heard.set(id, undefined);
    } else if (opts.dropAnswered) {
      // Received: a caller that no longer names its ids watches those runs no more.
      for (const id of this.answered.ids) this.wanted.delete(id);
    }
    this.answered = { seq: this.answered.seq, ids: [] };
  }
}

export class WaitWatches {
  /** Watches waiting for their caller's next poll, oldest first. */
  private readonly lingering = new Map<string, { watch: Watch; timer: NodeJS.Timeout }>();

  constructor(private readonly events: RunEvents) {}

  /**
   * The watch the caller's previous poll left (`resumed`: it heard every finish since), now over
   * `ids` — or, without them, over what it watched minus the runs answered since plus `added`; else
   * a new one, listening from now on. Without `ids` there is no new one to make: undefined.
   */
  open(owner: string, token: string | undefined, ids: string[] | undefined, added: readonly string[] = []): { watch: Watch; resumed: boolean } | undefined {
    const kept = token ? this.lingering.get(token) : undefined;
    if (kept && kept.watch.owner === owner) {
      this.lingering.delete(token!);
      clearTimeout(kept.timer);
      const { watch } = kept;
      if (ids) {
        watch.wanted = new Set(ids);
        for (const id of watch.heard.keys()) if (!watch.wanted.has(id)) watch.heard.delete(id);
      } else for (const id of added) watch.wanted.add(id);
      return { watch, resumed: true };
    }
    if (!ids) return undefined;
    const watch = new Watch(owner, ids);
    this.events.on("finished", watch.onFinished);
    return { watch, resumed: false };
  }

  /** The poll answered: keep listening for a moment, for the caller's next poll. */
  linger(watch: Watch): void {
    watch.wake = undefined;
    const own = [...this.lingering.values()].filter((k) => k.watch.owner === watch.owner);
    if (own.length >= MAX_LINGERING_PER_OWNER) this.close(own[0]!.watch.token);
    else if (this.lingering.size >= MAX_LINGERING) {
      const [oldest] = this.lingering.keys();
      this.close(oldest!);
    }
    this.lingering.set(watch.token, { watch, timer: setTimeout(() => this.close(watch.token), LINGER_MS).unref() });
  }

  /** A poll that failed: its watch stops listening at once. */
  discard(watch: Watch): void {
    watch.wake = undefined;
    this.events.off("finished", watch.onFinished);
  }

  get size(): number {
    return this.lingering.size;
  }

  private close(token: string): void {
    const kept = this.lingering.get(token);
    if (!kept) return;
    this.lingering.delete(token);
    clearTimeout(kept.timer);
    this.events.off("finished", kept.watch.onFinished);
  }
}
