import { argsPayload } from "./args-transport.ts";
import { isNboxError } from "../errors.ts";
import type { PlatformClient } from "./client.ts";
import { outcome } from "./run.ts";
import { triggerRuns } from "./trigger.ts";
import type { DeploymentInfo, RunInfo } from "./types.ts";

// Requests per batch and ids per long-poll stay well below the server's limits.
const MAX_BATCH = 1_000;
const MAX_WAIT_IDS = 4_000;
const POLL_MS = 20_000;
// A long-poll returns as soon as any watched run finishes, so new runs usually join the next
// one quickly; only a poll stuck on slow runs is restarted, after this long, to include them.
const REPOLL_AFTER_MS = 200;

interface Waiter {
  resolve(v: unknown): void;
  reject(e: unknown): void;
}
interface Pending {
  args: unknown[];
  resolve(id: string): void;
  reject(e: unknown): void;
}

/**
 * Fan-out transport for remote map: triggers made in the same tick go out as one batch request,
 * and one long-poll watches every outstanding run — two requests per wave instead of two per run.
 */
export class RunBatcher {
  private queue: Pending[] = [];
  private flushScheduled = false;
  private readonly waiters = new Map<string, Waiter>();
  private polling = false;
  private poll?: AbortController;
  private repoll?: NodeJS.Timeout;
  /** Whether polls after the first name only the ids they add (false against a platform that needs them all). */
  private leanPolls = true;
  private watchesLostInARow = 0;
  /** The ids of the long-poll in flight (none between polls). */
  private inFlight: Set<string> | undefined;

  constructor(
    private readonly client: PlatformClient,
    private readonly deployment: Pick<DeploymentInfo, "workspace" | "name">,
    private readonly traceparent: () => string | undefined,
  ) {}

  /** Trigger one run (batched with others of this tick) and resolve its id. */
  trigger(args: unknown[]): Promise<string> {
    return new Promise((resolve, reject) => {
      this.queue.push({ args, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Result of a run (resolves its value or rejects with its RemoteError). */
  result(runId: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiters.set(runId, { resolve, reject });
      this.watch(runId);
    });
  }

  /** Stop watching: outstanding results reject (the caller gave up on them). */
  abandon(): void {
    const gone = new Error("remote map stopped before this run finished");
    for (const w of this.waiters.values()) w.reject(gone);
    this.waiters.clear();
    this.poll?.abort();
  }

  private flush(): void {
    this.flushScheduled = false;
    const all = this.queue.splice(0);
    for (let i = 0; i < all.length; i += MAX_BATCH) void this.send(all.slice(i, i + MAX_BATCH));
  }

  private async send(items: Pending[]): Promise<void> {
    try {
      // Large argument lists go by reference; the rest inline, all in one request.
      const batch = await Promise.all(
        items.map(async (p, i) => {
          const payload = await argsPayload(this.client, p.args, `inputs[${i}]`);
          return "argsRef" in payload ? payload : payload.args;
        }),
      );
      // The answers leave out the arguments: they are ours, and would double what a fan-out moves.
      const runs = await triggerRuns(this.client, this.deployment, { batch, traceparent: this.traceparent(), withArgs: false });
      runs.forEach((r, i) => items[i]!.resolve(r.id));
    } catch (err) {
      // The server queues nothing when one item is bad: retry one by one so only that item fails.
      if (items.length > 1 && isNboxError(err) && err.code === "BAD_ARGS") {
        for (const p of items) void this.send([p]);
      } else for (const p of items) p.reject(err);
    }
  }

  private watch(runId: string): void {
    if (!this.polling) {
      // The first poll starts on the next turn: the ids of a batch arrive together, one by one.
      this.polling = true;
      setImmediate(() => void this.loop());
      return;
    }
    // Between polls the next one takes it; a full poll cannot.
    if (!this.inFlight || this.inFlight.has(runId) || this.inFlight.size >= MAX_WAIT_IDS) return;
    // A long-poll is in flight without the new id: restart it shortly (batching more new ids).
    this.repoll ??= setTimeout(() => {
      this.repoll = undefined;
      this.poll?.abort();
    }, REPOLL_AFTER_MS);
  }

  private async loop(): Promise<void> {
    try {
      // After the first poll, a poll names only the ids added since: the platform's watch keeps the
      // rest (what it watched, less what it answered), so a fan-out of thousands of runs sends and
      // parses a few ids per poll, not all of them every time. `watched` mirrors that watch.
      let cursor: string | undefined;
      let watched = new Set<string>();
      while (this.waiters.size > 0) {
        const ids = [...this.waiters.keys()].slice(0, MAX_WAIT_IDS);
        this.poll = new AbortController();
        let runs: RunInfo[] = [];
        const lean = cursor !== undefined && this.leanPolls;
        try {
          const added = ids.filter((id) => !watched.has(id));
          const body = lean ? { cursor, added, timeoutMs: POLL_MS, withArgs: false } : { ids, cursor, added: cursor ? added : undefined, timeoutMs: POLL_MS, withArgs: false };
          const polled = new Set(ids);
          this.inFlight = polled;
          const answer = await this.client.call("POST /runs/wait", { body, signal: this.poll.signal }).finally(() => {
            // Settled: a restart planned for this poll must not cut the next one short.
            this.inFlight = undefined;
            clearTimeout(this.repoll);
            this.repoll = undefined;
          });
          if (answer.watchLost) {
            // Its watch is gone (it waited too long for this poll): name every id again. Twice in a
            // row, polls land on control planes that did not answer the last one (several behind
            // one address): from then on every poll names every id.
            if (++this.watchesLostInARow >= 2) this.leanPolls = false;
            [cursor, watched] = [undefined, new Set()];
            continue;
          }
          if (lean) this.watchesLostInARow = 0;
          ({ runs, cursor } = answer);
          watched = polled;
          for (const run of runs) watched.delete(run.id);
        } catch (err) {
          if ((err as Error).name === "AbortError") continue;
          if (lean && isNboxError(err) && err.code === "BAD_REQUEST") {
            // A platform of an earlier release needs every id in every poll: name them from now on.
            this.leanPolls = false;
            continue;
          }
          for (const id of ids) this.waiters.get(id)?.reject(err);
          for (const id of ids) this.waiters.delete(id);
          // The ids given up on may still be in a watch the platform keeps: start a new one.
          [cursor, watched] = [undefined, new Set()];
          continue;
        }
        for (const run of runs) {
          const w = this.waiters.get(run.id);
          if (!w) continue;
          this.waiters.delete(run.id);
          try {
            w.resolve(outcome(run));
          } catch (e) {
            w.reject(e);
          }
        }
      }
    } finally {
      this.polling = false;
      clearTimeout(this.repoll);
      this.repoll = undefined;
    }
  }
}
