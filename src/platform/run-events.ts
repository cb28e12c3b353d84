import { EventEmitter } from "node:events";
import { RecentFinishes } from "./recent-finishes.ts";
import type { FinishedRun } from "./store/runs-repo.ts";
import { WaitWatches } from "./wait-watches.ts";

/** In-process wake-ups (run queued/finished, logs appended, cancel asked): long-polls and the run loop wait on these instead of sleeping. */
export interface RunEventMap {
  queued: [deploymentId: string];
  // The row as the finish returned it: without args (a waiter that wants them reads them).
  finished: [runId: string, row?: FinishedRun];
  logs: [runId: string, final?: undefined];
  cancel: [runId: string];
}

export class RunEvents extends EventEmitter<RunEventMap> {
  /** Long-polls over many runs listen through these (and resume from them). */
  readonly waitWatches = new WaitWatches(this);
  /** Runs heard finishing since this process started (the first listener: before any wait hears one). */
  readonly recentFinishes = new RecentFinishes();

  constructor() {
    super();
    this.setMaxListeners(0);
    this.on("finished", (id) => this.recentFinishes.add(id));
  }

  /** Resolve when `event` fires for `id` (with the finished row, when the finisher gave it), or after `ms`. */
  waitFor(event: "finished" | "logs", id: string, ms: number, signal?: AbortSignal): Promise<FinishedRun | undefined> {
    return this.waitUntil(event, (x) => x === id, ms, signal);
  }

  private waitUntil(event: "finished" | "logs", match: (id: string) => boolean, ms: number, signal?: AbortSignal): Promise<FinishedRun | undefined> {
    return new Promise((resolve) => {
      const done = (final?: FinishedRun) => {
        clearTimeout(timer);
        this.off(event, onEvent);
        signal?.removeEventListener("abort", onAbort);
        resolve(final);
      };
      const onEvent = (runId: string, final?: FinishedRun) => match(runId) && done(final);
      const onAbort = () => done();
      const timer = setTimeout(done, ms);
      this.on(event, onEvent);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}
