import { EventEmitter } from "node:events";

/** In-process wake-ups (run queued/finished, logs appended, cancel asked): long-polls and the run loop wait on these instead of sleeping. */
export interface RunEventMap {
  queued: [deploymentId: string];
  finished: [runId: string, final?: FinishedFields];
  logs: [runId: string, final?: undefined];
  cancel: [runId: string];
}

/** What a finished run's row now says, sent with the event so waiters need not read it back. */
export interface FinishedFields {
  status: "succeeded" | "failed" | "cancelled" | "timed_out";
  result: unknown;
  error: { name: string; message: string; stack?: string } | null;
  attempt: number;
  startedAt: number | null;
  finishedAt: number;
}

export class RunEvents extends EventEmitter<RunEventMap> {
  constructor() {
    super();
    this.setMaxListeners(0);
  }

  /** Resolve when any of `ids` finishes, or after `ms`. */
  waitForAny(ids: ReadonlySet<string>, ms: number, signal?: AbortSignal): Promise<unknown> {
    return this.waitUntil("finished", (id) => ids.has(id), ms, signal);
  }

  /** Resolve when `event` fires for `id` (with the finished fields, when the finisher gave them), or after `ms`. */
  waitFor(event: "finished" | "logs", id: string, ms: number, signal?: AbortSignal): Promise<FinishedFields | undefined> {
    return this.waitUntil(event, (x) => x === id, ms, signal);
  }

  private waitUntil(event: "finished" | "logs", match: (id: string) => boolean, ms: number, signal?: AbortSignal): Promise<FinishedFields | undefined> {
    return new Promise((resolve) => {
      const done = (final?: FinishedFields) => {
        clearTimeout(timer);
        this.off(event, onEvent);
        signal?.removeEventListener("abort", onAbort);
        resolve(final);
      };
      const onEvent = (runId: string, final?: FinishedFields) => match(runId) && done(final);
      const onAbort = () => done();
      const timer = setTimeout(done, ms);
      this.on(event, onEvent);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}
