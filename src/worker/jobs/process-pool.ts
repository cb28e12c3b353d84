// Worker processes across deployments. A process holds one loaded deployment version (`key`), so
// it is reused only for calls with the same key: that is the whole point of keeping it warm.
// The slot limit bounds live processes (busy + idle + still exiting) so the machine is never
// oversubscribed; when all slots are taken, idle processes of other keys are evicted and
// waiting acquirers are served in arrival order. An acquirer that may wait `behind` a running call
// may, when no slot is free, get a busy ready process of its key with fewer calls waiting than it
// allows: its call is sent at once and starts the moment the calls ahead end (short calls then never
// wait for a round trip between two of them). Such a process has one holder per call it has, until
// each has released or killed it.
import { availableParallelism } from "node:os";
import { WorkerProcess, type LogStream, type SpawnInfo } from "./worker-process.ts";

export interface ProcessPoolOptions {
  /** Max live worker processes, all keys together. Default: os.availableParallelism(). */
  slots?: number;
  /** An idle process is stopped after this long without a call. Default 60 s. */
  idleMs?: number;
  /** Max live processes for one key (default: no limit beyond `slots`). */
  maxProcessesPerKey?: number;
  /** SIGTERM → SIGKILL grace when stopping a process. Default 500 ms. */
  killGraceMs?: number;
  /** Lines no call in flight claimed, with the run they most likely belong to (see WorkerProcess.onStrayLog). */
  onStrayLog?: (proc: WorkerProcess, stream: LogStream, line: string, runId: string | undefined) => void;
}

export interface AcquireOptions {
  /** Stop waiting for a slot (rejects with an AbortError). */
  signal?: AbortSignal;
  /**
   * May get a busy process of the key to send its call behind the running one, where fewer than this
   * many calls wait yet (see the file's head); 0 or absent: only a process of its own.
   */
  behind?: number;
  /**
   * Give up (reject with a TimeoutError) when no process came within this long. The timer is set
   * only when the acquirer has to wait: most acquires are served at once, and a timer (or an
   * `AbortSignal.timeout`) per call, firing long after its call ended, was a measurable share of
   * a worker's time under a fan-out of short calls.
   */
  waitMs?: number;
}

export interface PoolStats {
  processes: number;
  idle: number;
  busy: number;
  exiting: number;
  waiting: number;
}

export class PoolClosedError extends Error {
  override name = "PoolClosedError";
}

interface Waiter {
  key: string;
  behind: number;
  spawn: SpawnInfo;
  resolve: (p: WorkerProcess) => void;
  reject: (e: unknown) => void;
  cleanup: () => void;
}

type ServeResult = "served" | "key-limit" | "no-slot";

export class ProcessPool {
  readonly slots: number;
  readonly idleMs: number;
  readonly maxProcessesPerKey: number;
  readonly killGraceMs: number;
  /** Every process that has not exited yet (busy, idle or being stopped). */
  private readonly procs = new Set<WorkerProcess>();
  /** Idle processes, least recently released first. */
  private idle: WorkerProcess[] = [];
  private readonly idleTimers = new Map<WorkerProcess, NodeJS.Timeout>();
  private readonly waiters: Waiter[] = [];
  /** Processes handed to more than one holder (one call running, the others waiting behind it): how many more. */
  private readonly shared = new Map<WorkerProcess, number>();
  private closed = false;

  constructor(private readonly opts: ProcessPoolOptions = {}) {
    this.slots = opts.slots ?? availableParallelism();
    this.idleMs = opts.idleMs ?? 60_000;
    this.maxProcessesPerKey = opts.maxProcessesPerKey ?? Infinity;
    this.killGraceMs = opts.killGraceMs ?? 500;
    if (!Number.isInteger(this.slots) || this.slots < 1) throw new RangeError(`ProcessPool: slots must be a positive integer, got ${opts.slots}`);
    if (!(this.maxProcessesPerKey >= 1)) throw new RangeError(`ProcessPool: maxProcessesPerKey must be >= 1, got ${opts.maxProcessesPerKey}`);
  }

  /**
   * A process for `key`, exclusively yours until `release` or `kill`: a warm idle one when there
   * is one, else a freshly forked one (check `proc.state === "loading"` and await `proc.loaded`).
   */
  acquire(key: string, spawn: SpawnInfo, opts: AcquireOptions = {}): Promise<WorkerProcess> {
    if (this.closed) return Promise.reject(new PoolClosedError("process pool is closed"));
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<WorkerProcess>((resolve, reject) => {
      const giveUp = (err: unknown) => {
        const i = this.waiters.indexOf(w);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        w.cleanup();
        reject(err);
        this.pump(); // the head may have been blocking others
      };
      const onAbort = () => giveUp(abortError(signal!));
      let timer: NodeJS.Timeout | undefined;
      const w: Waiter = {
        key, behind: opts.behind ?? 0, spawn, resolve, reject,
        cleanup: () => {
          signal?.removeEventListener("abort", onAbort);
          clearTimeout(timer);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(w);
      this.pump();
      if (opts.waitMs !== undefined && this.waiters.includes(w)) {
        timer = setTimeout(() => giveUp(new DOMException(`no process within ${opts.waitMs} ms`, "TimeoutError")), opts.waitMs);
      }
    });
  }

  /**
   * Give a process back after a call. A process that is not healthy and ready is stopped instead;
   * one that still has another holder stays with it.
   */
  release(proc: WorkerProcess): void {
    if (!this.procs.has(proc) || this.idle.includes(proc)) return;
    const others = this.shared.get(proc) ?? 0;
    if (others > 0 && proc.alive) {
      if (others === 1) this.shared.delete(proc);
      else this.shared.set(proc, others - 1);
      this.pump(); // room behind its other calls again
      return;
    }
    if (this.closed || !proc.alive || proc.state !== "ready") {
      void this.kill(proc, this.closed ? "pool closed" : `released in state ${proc.state}`);
      return;
    }
    this.idle.push(proc);
    const t = setTimeout(() => void this.kill(proc, "idle"), this.idleMs);
    t.unref();
    this.idleTimers.set(proc, t);
    this.pump();
  }

  /** Stop a process (SIGTERM, then SIGKILL after the grace). Its slot frees when it has exited. */
  kill(proc: WorkerProcess, reason: string): Promise<void> {
    this.unidle(proc);
    this.shared.delete(proc);
    return proc.kill(reason, this.killGraceMs).then(() => undefined);
  }

  /** Stop everything; pending acquirers are rejected. Resolves when every process has exited. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) {
      w.cleanup();
      w.reject(new PoolClosedError("process pool is closed"));
    }
    await Promise.all([...this.procs].map((p) => this.kill(p, "pool closed")));
  }

  stats(): PoolStats {
    const exiting = [...this.procs].filter((p) => p.killReason !== undefined).length;
    return {
      processes: this.procs.size,
      idle: this.idle.length,
      busy: this.procs.size - this.idle.length - exiting,
      exiting,
      waiting: this.waiters.length,
    };
  }

  /** Live processes (for inspection and tests). */
  processes(): WorkerProcess[] {
    return [...this.procs];
  }

  /** Whether a live process of `key` exists (busy or idle): a call for it then usually needs no new one. */
  has(key: string): boolean {
    for (const p of this.procs) if (p.key === key && p.alive) return true;
    return false;
  }

  private pump(): void {
    for (let i = 0; i < this.waiters.length; ) {
      const w = this.waiters[i]!;
      const r = this.serve(w);
      if (r === "served") {
        this.waiters.splice(i, 1);
        continue;
      }
      // A waiter that needs a slot blocks everyone behind it (FIFO, no starvation); one that waits
      // for a process of its own key (per-key limit) does not hold up other keys.
      if (r === "no-slot") return;
      i++;
    }
  }

  private serve(w: Waiter): ServeResult {
    // Warm first: the most recently used process of this key (others may then idle out).
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const p = this.idle[i]!;
      if (p.key === w.key && p.alive) {
        this.unidle(p);
        this.hand(w, p);
        return "served";
      }
    }
    let sameKey = 0;
    let exiting = 0;
    for (const p of this.procs) {
      if (p.key === w.key && p.alive) sameKey++;
      if (p.killReason !== undefined) exiting++;
    }
    if (sameKey < this.maxProcessesPerKey && this.procs.size < this.slots) {
      this.hand(w, this.fork(w.key, w.spawn));
      return "served";
    }
    // Behind a busy process only when no slot can be had: an idle process (of another key; ours was
    // taken above) gives up its slot instead. A call that looked short may run long, and the run
    // sent behind it would wait all that time beside a slot that was free for the asking.
    const busy = w.behind > 0 && this.idle.length === 0 ? this.busyWithRoomBehind(w.key, w.behind) : undefined;
    if (busy) {
      this.shared.set(busy, (this.shared.get(busy) ?? 0) + 1);
      this.hand(w, busy);
      return "served";
    }
    if (sameKey >= this.maxProcessesPerKey) return "key-limit";
    // Full. A process already on its way out frees a slot soon; otherwise make room by stopping
    // the least recently used idle process (of another key: there is no idle one of ours).
    if (exiting === 0 && this.idle.length > 0) void this.kill(this.idle[0]!, `evicted for ${w.key}`);
    return "no-slot";
  }

  /**
   * A ready process of `key` with a call running and fewer than `behind` waiting, each holder's call
   * already sent (a new one then goes last): the one with the fewest calls, so processes share them.
   */
  private busyWithRoomBehind(key: string, behind: number): WorkerProcess | undefined {
    let best: WorkerProcess | undefined;
    for (const p of this.procs) {
      const calls = p.callsInFlight;
      if (p.key !== key || !p.alive || p.state !== "ready" || calls < 1 || calls > behind || this.idle.includes(p)) continue;
      if ((this.shared.get(p) ?? 0) !== calls - 1) continue;
      if (!best || calls < best.callsInFlight) best = p;
    }
    return best;
  }

  private fork(key: string, spawn: SpawnInfo): WorkerProcess {
    const p = new WorkerProcess(key, spawn);
    this.procs.add(p);
    if (this.opts.onStrayLog) p.onStrayLog = (stream, line, runId) => this.opts.onStrayLog!(p, stream, line, runId);
    // Its holder's call is out: a waiter allowed behind it may go now.
    p.onCallSent = () => this.waiters.length > 0 && this.pump();
    void p.exited.then(() => {
      this.procs.delete(p);
      this.shared.delete(p);
      this.unidle(p);
      this.pump();
    });
    return p;
  }

  private hand(w: Waiter, p: WorkerProcess): void {
    w.cleanup();
    w.resolve(p);
  }

  private unidle(p: WorkerProcess): void {
    const i = this.idle.indexOf(p);
    if (i >= 0) this.idle.splice(i, 1);
    const t = this.idleTimers.get(p);
    if (t) clearTimeout(t);
    this.idleTimers.delete(p);
  }
}

function abortError(signal: AbortSignal): unknown {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new DOMException("acquire aborted", "AbortError");
}
