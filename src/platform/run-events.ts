import { EventEmitter } from "node:events";

/** In-process wake-ups (run queued/finished, logs appended, cancel asked): long-polls and the run loop wait on these instead of sleeping. */
export interface RunEventMap {
  queued: [deploymentId: string];
  finished: [runId: string];
  logs: [runId: string];
  cancel: [runId: string];
}

export class RunEvents extends EventEmitter<RunEventMap> {
  constructor() {
    super();
    this.setMaxListeners(0);
  }

  /** Resolve when any of `ids` finishes, or after `ms`. */
  waitForAny(ids: ReadonlySet<string>, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off("finished", onEvent);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const onEvent = (runId: string) => ids.has(runId) && done();
      const timer = setTimeout(done, ms);
      this.on("finished", onEvent);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  /** Resolve when `event` fires for `id`, or after `ms` (whichever first). */
  waitFor(event: "finished" | "logs", id: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off(event, onEvent);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const onEvent = (runId: string) => runId === id && done();
      const timer = setTimeout(done, ms);
      this.on(event, onEvent);
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}
