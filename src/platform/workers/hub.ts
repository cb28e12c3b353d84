// The control plane's side of its workers: who is registered and alive, claims (held open while
// the queue is empty), the events channel each worker keeps open (cancels, servings to start or
// stop), and the sweep that declares silent workers dead and takes back what they held.
import { NboxError } from "../../errors.ts";
import type { PlatformContext } from "../context.ts";
import type { RecoverResult } from "../store/runs-repo.ts";
import type { RunRow, WorkerRow, WorkerSandbox } from "../store/schema.ts";
import { RuntimeTokens } from "./runtime-tokens.ts";

export interface WorkerEvents {
  cancel: string[];
  /** Serving deployment ids to stop hosting (placed elsewhere, or undeployed). */
  stop: string[];
  /** Something about servings changed: ask for the assignment list (heartbeat) now. */
  servings: boolean;
}

/** A claim held open on an empty queue: new runs can be handed to it directly. */
interface ClaimWaiter {
  workerId: string;
  max: number;
  exclude: ReadonlySet<string>;
  signal?: AbortSignal;
  /** Set when a trigger took it: runs created claimed by this worker are on their way to `deliver`. */
  taken?: boolean;
  /** Set when a run of a deployment it leaves out finished: answered empty at once (see `cutShort`). */
  cut?: boolean;
  deliver(runs: RunRow[]): void;
  /** Stop waiting now. */
  wake(): void;
}

/** Who takes runs handed over directly: create them claimed by `workerId`, then `deliver` them (or `deliver([])` if that failed). */
export interface ClaimTaker {
  workerId: string;
  deliver(runs: RunRow[]): void;
}

interface Live {
  row: WorkerRow;
  /** When this node took it in (registered here, or first heard of it). */
  since: number;
  pending: WorkerEvents;
  /** The open events request, if any. */
  wake: (() => void) | undefined;
}

// A claim held open re-reads the store at this pace too: runs queued by another control plane
// node, or delayed runs coming due, announce themselves only through time.
const CLAIM_RECHECK_MS = 250;

export class WorkerHub {
  private readonly live = new Map<string, Live>();
  readonly runtimeTokens: RuntimeTokens;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly joined = new Set<(w: WorkerRow) => void>();
  /** When a claim last found the queue empty (undefined once something was queued since). */
  private drainedAt: number | undefined;
  /** Counts "queued" events, so a claim knows whether runs came while it read. */
  private queuedSeq = 0;
  private readonly waiters = new Set<ClaimWaiter>();
  /** Called with workers just declared gone (servings must be placed elsewhere). */
  onGone: (ids: string[]) => void = () => {};

  constructor(private readonly ctx: PlatformContext) {
    this.runtimeTokens = new RuntimeTokens(ctx);
    ctx.events.on("queued", () => {
      this.queuedSeq++;
      this.drainedAt = undefined;
    });
    ctx.events.on("cancel", this.onCancel);
    ctx.events.on("finished", (_id, row) => row && this.cutShort(row.deploymentId));
  }

  /**
   * A worker leaves out of its claim the deployments whose limit its own runs fill. When one of
   * those runs finishes, its claim is answered (empty) at once: the worker claims again without
   * that deployment left out, instead of after the claim's hold — each run of a deployment limited
   * to one at a time would otherwise wait that long behind the one before.
   */
  private cutShort(deploymentId: string): void {
    for (const w of this.waiters) {
      if (!w.exclude.has(deploymentId) || w.taken) continue;
      w.cut = true;
      w.wake();
    }
  }

  /** How often workers beat: three beats per lease. */
  get heartbeatMs(): number {
    return Math.max(50, Math.floor(this.ctx.config.leaseMs / 3));
  }

  async register(input: { name: string; slots: number; address: string | null; local: boolean; tokenId: string }, sandbox?: WorkerSandbox): Promise<WorkerRow> {
    const row = await this.ctx.store.registerWorker({ ...input, sandbox: sandbox ?? null });
    this.live.set(row.id, { row, since: Date.now(), pending: { cancel: [], stop: [], servings: false }, wake: undefined });
    for (const f of [...this.joined]) f(row);
    return row;
  }

  /** The registered, live worker `id` of the token `tokenId` (404 otherwise: the worker must register again). */
  async get(id: string, tokenId: string): Promise<WorkerRow> {
    let w = this.live.get(id);
    if (!w) {
      // Registered with another control-plane node, or before a restart of this one.
      const row = await this.ctx.store.getWorker(id);
      if (row && row.goneAt === null) this.live.set(id, (w = { row, since: Date.now(), pending: { cancel: [], stop: [], servings: false }, wake: undefined }));
    }
    if (!w || w.row.tokenId !== tokenId) throw new NboxError("NOT_FOUND", `worker ${id} is not registered (or was declared dead)`, "Register again");
    return w.row;
  }

  /** Resolves with the first worker matching `match` to register (or undefined after `ms`). */
  waitForWorker(match: (w: WorkerRow) => boolean, ms: number): Promise<WorkerRow | undefined> {
    return new Promise((resolve) => {
      const t = setTimeout(() => done(undefined), ms);
      const done = (w: WorkerRow | undefined) => {
        clearTimeout(t);
        this.joined.delete(check);
        resolve(w);
      };
      const check = (w: WorkerRow) => match(w) && done(w);
      this.joined.add(check);
    });
  }

  /** How live worker `id` said it runs user code. */
  sandboxOf(id: string): WorkerSandbox | undefined {
    return this.live.get(id)?.row.sandbox ?? undefined;
  }

  liveWorkers(): WorkerRow[] {
    return [...this.live.values()].map((w) => w.row);
  }

  /** Worker `id` is alive and holds the runs `holding`: their leases are renewed (others it may still hold in the store lapse). */
  async heartbeat(id: string, holding: readonly string[]): Promise<number> {
    if (!(await this.ctx.store.touchWorker(id))) {
      this.live.delete(id);
      throw new NboxError("NOT_FOUND", `worker ${id} was declared dead`, "Register again");
    }
    const w = this.live.get(id);
    if (w) w.row = { ...w.row, lastSeenAt: Date.now() };
    return this.ctx.store.renewLeases(id, { leaseMs: this.ctx.config.leaseMs, ids: holding });
  }

  /** Claim up to `max` runs for worker `id`, waiting up to `waitMs` (or until `signal`) while none are queued. */
  async claim(id: string, max: number, exclude: string[], waitMs: number, signal?: AbortSignal): Promise<RunRow[]> {
    const deadline = Date.now() + waitMs;
    const excluded = new Set(exclude);
    for (;;) {
      // Declared gone meanwhile (here or by another node): nothing more for it; its next request is refused.
      if (!this.live.has(id)) return [];
      let handed: RunRow[] = [];
      let done!: () => void;
      let delivered!: () => void;
      const delivery = new Promise<void>((resolve) => (delivered = resolve));
      const waiter: ClaimWaiter = { workerId: id, max, exclude: excluded, signal, deliver: (runs) => ((handed = runs), delivered(), done()), wake: () => done() };
      const wake = new Promise<void>((resolve) => {
        done = () => {
          clearTimeout(t);
          this.waiters.delete(waiter);
          this.ctx.events.off("queued", done);
          signal?.removeEventListener("abort", done);
          resolve();
        };
        const t = setTimeout(done, Math.max(0, Math.min(CLAIM_RECHECK_MS, deadline - Date.now())));
        this.ctx.events.on("queued", done);
        signal?.addEventListener("abort", done, { once: true });
        this.waiters.add(waiter);
      });
      // A queue seen drained a moment ago, with nothing queued since, is not read again before the
      // recheck: a worker with runs in flight keeps a claim open, and its empty reads would sit in
      // front of the reports on the store's one connection.
      const drained = this.drainedAt !== undefined && Date.now() - this.drainedAt < CLAIM_RECHECK_MS;
      const runs = drained ? [] : await this.readClaim(id, max, exclude);
      const answered = () => runs.length > 0 || handed.length > 0 || waiter.cut === true || Date.now() >= deadline || signal?.aborted === true;
      if (!answered()) await wake;
      done(); // no longer takeable
      // Taken by a trigger before that: its runs, created claimed by this worker, are being written
      // and belong in this answer (delivered even if writing them failed). Moving on without them
      // (the recheck timer or another wake firing meanwhile) left them to lapse back a lease later.
      if (waiter.taken) await delivery;
      if (answered()) return [...runs, ...handed];
    }
  }

  /** Claims waiting on the drained queue right now (each could take new runs directly). */
  get claimsWaiting(): number {
    return this.drainedAt === undefined ? 0 : [...this.waiters].filter((w) => !w.signal?.aborted).length;
  }

  /**
   * A claim waiting on the drained queue that can take `n` runs of `deploymentId` now, taken off
   * the waiting list: new runs go to it directly, already claimed (no queue stop, no claim
   * statement). None while older runs may still be queued (they go first). A taker whose request
   * went away before the runs reached it leaves them to lapse back into the queue (its heartbeat
   * does not name them).
   */
  takeWaitingClaim(deploymentId: string, n: number): ClaimTaker | undefined {
    if (this.drainedAt === undefined) return undefined;
    for (const w of this.waiters) {
      if (w.max < n || w.exclude.has(deploymentId) || w.signal?.aborted) continue;
      this.waiters.delete(w);
      w.taken = true;
      return w;
    }
    return undefined;
  }

  private async readClaim(id: string, max: number, exclude: string[]): Promise<RunRow[]> {
    const queuedBefore = this.queuedSeq;
    const runs = await this.ctx.store.claimNextRuns(id, max, { excludeDeploymentIds: exclude, leaseMs: this.ctx.config.leaseMs });
    // Fewer than asked, with no deployment left out and nothing queued meanwhile: the queue is empty now.
    if (runs.length < max && exclude.length === 0 && this.queuedSeq === queuedBefore) this.drainedAt = Date.now();
    return runs;
  }

  /** What worker `id` must act on; waits up to `waitMs` for something to happen. */
  async events(id: string, waitMs: number, signal?: AbortSignal): Promise<WorkerEvents> {
    const w = this.live.get(id);
    if (!w) throw new NboxError("NOT_FOUND", `worker ${id} is not registered`, "Register again");
    if (!hasAny(w.pending)) {
      w.wake?.();
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          signal?.removeEventListener("abort", done);
          if (w.wake === done) w.wake = undefined;
          resolve();
        };
        const t = setTimeout(done, waitMs);
        signal?.addEventListener("abort", done, { once: true });
        w.wake = done;
      });
    }
    const out = w.pending;
    w.pending = { cancel: [], stop: [], servings: false };
    return out;
  }

  /** Tell a worker something (delivered on its events channel). */
  notify(id: string, what: Partial<WorkerEvents>): void {
    const w = this.live.get(id);
    if (!w) return;
    if (what.cancel) w.pending.cancel.push(...what.cancel);
    if (what.stop) w.pending.stop.push(...what.stop);
    if (what.servings) w.pending.servings = true;
    w.wake?.();
  }

  /** A worker stops cleanly. */
  async leave(id: string): Promise<void> {
    await this.declareGone([id]);
  }

  private readonly onCancel = (runId: string) => {
    void this.ctx.store.getRun(runId).then((run) => {
      if (run?.workerId && run.status === "running") this.notify(run.workerId, { cancel: [runId] });
    });
  };

  start(): void {
    let due = Date.now() + this.heartbeatMs;
    let heardFirst = false;
    const sweep = () => {
      // A sweep far behind its time means this control plane's own event loop was blocked: the
      // workers' heartbeats may be sitting unread in its sockets. Hear them for one beat before
      // declaring anyone silent (once: a loop that is always late still sweeps every other beat).
      const late = Date.now() - due > this.heartbeatMs / 2;
      heardFirst = late && !heardFirst;
      void (heardFirst ? Promise.resolve() : this.sweep()).finally(() => {
        if (this.sweepTimer === undefined) return;
        due = Date.now() + this.heartbeatMs;
        this.sweepTimer = setTimeout(sweep, this.heartbeatMs).unref();
      });
    };
    this.sweepTimer = setTimeout(sweep, this.heartbeatMs).unref();
  }

  stop(): void {
    clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    this.ctx.events.off("cancel", this.onCancel);
    for (const w of this.live.values()) w.wake?.();
  }

  /**
   * Declare workers silent for a whole lease dead and take back their runs: never started →
   * queued again at the same attempt; started → the attempt counts (retry, or WorkerCrashError).
   */
  async sweep(): Promise<void> {
    try {
      const gone = await this.ctx.store.markWorkersGone({ silentSince: Date.now() - this.ctx.config.leaseMs });
      if (gone.length > 0) await this.afterGone(gone);
      await this.forgetDeparted();
      await this.recovered(await this.ctx.store.recoverStaleRuns({ lapsedOnly: true }));
    } catch (err) {
      if (this.sweepTimer !== undefined) console.error("[nbox workers] sweep failed:", err);
    }
  }

  /**
   * Workers another control-plane node declared gone, or that left through another node: this node
   * never heard, so it forgets them here — the entry that would take their requests, and the runtime
   * tokens it minted for them (the node that saw them go revoked those in the store).
   */
  private async forgetDeparted(): Promise<void> {
    if (this.live.size === 0 && !this.runtimeTokens.holdsAny) return;
    const askedAt = Date.now();
    const live = new Set((await this.ctx.store.listLiveWorkers()).map((w) => w.id));
    const forgotten: string[] = [];
    for (const [id, w] of this.live) {
      // One this node took in while the list was read may not be in it, and is live.
      if (live.has(id) || w.since >= askedAt) continue;
      forgotten.push(id);
    }
    this.forget(forgotten);
    this.runtimeTokens.forgetAllBut(new Set([...live, ...this.live.keys()]));
  }

  /**
   * At the start of the only control plane of an embedded store: the local worker of an earlier
   * start died with it, so every run not held by a live remote worker is taken back at once.
   */
  async recoverAtStart(): Promise<void> {
    const workers = await this.ctx.store.listLiveWorkers();
    const dead = workers.filter((w) => w.local).map((w) => w.id);
    if (dead.length) await this.declareGone(dead);
    await this.recovered(await this.ctx.store.recoverStaleRuns({ exceptWorkerIds: workers.filter((w) => !w.local).map((w) => w.id) }));
  }

  /**
   * At a start after a crash, on a store other control planes may share: the local worker of this
   * control plane's earlier start (known by its token) died with it, so its runs are taken back at
   * once, not a lease later. Other workers' runs are left to their leases.
   */
  async recoverLocalWorker(tokenId: string): Promise<void> {
    const ids = (await this.ctx.store.listLiveWorkers()).filter((w) => w.local && w.tokenId === tokenId).map((w) => w.id);
    if (ids.length === 0) return;
    await this.declareGone(ids);
    await this.recovered(await this.ctx.store.recoverStaleRuns({ workerIds: ids }));
  }

  /** Runs taken back from dead workers: queued again (the queue must deliver them anew), or ended. */
  private async recovered(r: RecoverResult): Promise<void> {
    const again = [...r.requeued, ...r.retried];
    if (again.length > 0) {
      // A run's job may already be with a live worker (BullMQ redelivered it): that one is left to it.
      const live = new Set((await this.ctx.store.listLiveWorkers()).map((w) => w.id));
      await this.ctx.queue.takenBack(await this.ctx.store.getRuns(again), live);
    }
    for (const id of [...r.failed, ...r.cancelled]) this.ctx.events.emit("finished", id);
  }

  /**
   * Workers this node must no longer serve: their events request is answered, and a claim of theirs
   * held open can no longer be handed new runs (they would wait for its lease to lapse).
   */
  private forget(ids: readonly string[]): void {
    if (ids.length === 0) return;
    const gone = new Set(ids);
    for (const id of ids) {
      this.live.get(id)?.wake?.();
      this.live.delete(id);
    }
    for (const w of this.waiters) if (gone.has(w.workerId)) this.waiters.delete(w);
  }

  private async declareGone(ids: string[]): Promise<void> {
    const gone = await this.ctx.store.markWorkersGone({ ids });
    if (gone.length > 0) await this.afterGone(gone);
  }

  private async afterGone(ids: string[]): Promise<void> {
    this.forget(ids);
    await this.runtimeTokens.revokeFor(ids);
    this.onGone(ids);
    await this.ctx.queue.workersGone(ids);
  }
}

function hasAny(e: WorkerEvents): boolean {
  return e.cancel.length > 0 || e.stop.length > 0 || e.servings;
}
