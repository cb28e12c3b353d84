import { argsPayload } from "./args-transport.ts";
import { isNboxError } from "../errors.ts";
import { fromWire } from "../codec/index.ts";
import type { BatchedCallOutcome } from "../contract/batched-calls.ts";
import type { BatchPlan } from "./batch-plan.ts";
import type { PlatformClient } from "./client.ts";
import { RemoteError } from "./remote-error.ts";
import { outcome } from "./run.ts";
import { triggerRuns, type TriggerEntry } from "./trigger.ts";
import type { DeploymentInfo, RunInfo } from "./types.ts";


// Calls per trigger request and ids per long-poll stay well below the server's limits.
const MAX_BATCH = 1_000;
const MAX_WAIT_IDS = 4_000;
const POLL_MS = 20_000;
// A long-poll returns as soon as any watched run finishes, so new runs usually join the next
// one quickly; only a poll stuck on slow runs is restarted, after this long, to include them.
const REPOLL_AFTER_MS = 200;

/** Where an item went: its run, and its place among the run's batched calls (absent: the run is its own). */
export interface CallRef {
  runId: string;
  call?: number;
}
interface Waiter {
  call: number | undefined;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}
interface Pending {
  args: unknown[];
  resolve(ref: CallRef): void;
  reject(e: unknown): void;
}

/**
 * Fan-out transport for remote map: triggers made in the same tick go out as one batch request
 * (short calls several to a run, see BatchPlan), and one long-poll watches every outstanding run —
 * two requests per wave instead of two per item.
 */
export class RunBatcher {
  private queue: Pending[] = [];
  private flushScheduled = false;
  /** The callers waiting on each run (several when it carries batched calls). */
  private readonly waiters = new Map<string, Waiter[]>();
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
    private readonly plan: BatchPlan,
  ) {}

  /** Trigger one call (sent with the others of this tick) and resolve where it went. */
  trigger(args: unknown[]): Promise<CallRef> {
    return new Promise((resolve, reject) => {
      this.queue.push({ args, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Result of a call (resolves its value or rejects with its RemoteError). */
  result(ref: CallRef): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const w = { call: ref.call, resolve, reject };
      const known = this.waiters.get(ref.runId);
      if (known) return void known.push(w);
      this.waiters.set(ref.runId, [w]);
      this.watch(ref.runId);
    });
  }

  /** Stop watching: outstanding results reject (the caller gave up on them). */
  abandon(): void {
    const gone = new Error("remote map stopped before this run finished");
    for (const ws of this.waiters.values()) for (const w of ws) w.reject(gone);
    this.waiters.clear();
    this.poll?.abort();
  }

  private flush(): void {
    this.flushScheduled = false;
    const all = this.queue.splice(0);
    const perRun = this.plan.callsPerRun(all.length, this.waiters.size);
    for (let i = 0; i < all.length; i += MAX_BATCH) void this.send(all.slice(i, i + MAX_BATCH), perRun);
  }

  private async send(items: Pending[], perRun: number): Promise<void> {
    // The trigger's entries, each one run: an argument list, a reference to one, or batched calls
    // (`calls` while it is being filled: a group of one goes as an argument list).
    const entries: { body: TriggerEntry; items: Pending[]; calls?: unknown[][] }[] = [];
    try {
      // Large argument lists go by reference, each its own run; the rest inline, all in one request.
      const payloads = await Promise.all(items.map((p, i) => argsPayload(this.client, p.args, `inputs[${i}]`)));
      let group: (typeof entries)[number] | undefined;
      payloads.forEach((payload, i) => {
        const item = items[i]!;
        if ("argsRef" in payload || perRun === 1) return void entries.push({ body: "argsRef" in payload ? payload : payload.args, items: [item] });
        if (!group || group.items.length >= perRun) entries.push((group = { body: [], items: [], calls: [] }));
        group.calls!.push(payload.args);
        group.items.push(item);
      });
      for (const e of entries) if (e.calls) e.body = e.calls.length === 1 ? e.calls[0]! : { calls: e.calls };
      // The answers leave out the arguments: they are ours, and would double what a fan-out moves.
      const runs = await triggerRuns(this.client, this.deployment, { batch: entries.map((e) => e.body), traceparent: this.traceparent(), withArgs: false });
      runs.forEach((r, i) => {
        const e = entries[i]!;
        if (e.calls && e.calls.length > 1) e.items.forEach((p, call) => p.resolve({ runId: r.id, call }));
        else e.items[0]!.resolve({ runId: r.id });
      });
    } catch (err) {
      const batched = entries.some((e) => e.calls && e.calls.length > 1);
      if (batched && isNboxError(err) && err.code === "BAD_REQUEST") {
        // Batched calls refused (the job retries failed runs now): one call per run from here on.
        this.plan.disable();
        void this.send(items, 1);
      } else if (items.length > 1 && isNboxError(err) && err.code === "BAD_ARGS") {
        // The server queues nothing when one item is bad: retry one by one so only that item fails.
        for (const p of items) void this.send([p], 1);
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
          for (const id of ids) for (const w of this.waiters.get(id) ?? []) w.reject(err);
          for (const id of ids) this.waiters.delete(id);
          // The ids given up on may still be in a watch the platform keeps: start a new one.
          [cursor, watched] = [undefined, new Set()];
          continue;
        }
        for (const run of runs) {
          const ws = this.waiters.get(run.id);
          if (!ws) continue;
          this.waiters.delete(run.id);
          this.plan.heard(run);
          settleCalls(run, ws);
        }
      }
    } finally {
      this.polling = false;
      clearTimeout(this.repoll);
      this.repoll = undefined;
    }
  }
}

/** Hand a finished run's outcome to whoever waits on it: each batched call its own. */
function settleCalls(run: RunInfo, waiters: Waiter[]): void {
  if (run.calls != null && run.status === "succeeded") {
    let outcomes: BatchedCallOutcome[];
    try {
      outcomes = fromWire(run.result) as BatchedCallOutcome[];
    } catch (e) {
      for (const w of waiters) w.reject(e);
      return;
    }
    for (const w of waiters) {
      const o = outcomes[w.call ?? 0];
      if (o?.ok) w.resolve(o.value);
      else w.reject(RemoteError.from({ ...(o?.error ?? { name: "Error", message: `run ${run.id} has no outcome for call ${w.call}` }), code: o?.code ?? "USER_CODE" }, { runId: run.id }));
    }
    return;
  }
  for (const w of waiters) {
    try {
      w.resolve(outcome(run));
    } catch (e) {
      // A batched run that ended as a whole (crash, timeout, cancel) ended each of its calls.
      if (run.calls != null && e instanceof Error) e.message += ` (one of ${run.calls} calls batched in run ${run.id}: this call may not have run)`;
      w.reject(e);
    }
  }
}
