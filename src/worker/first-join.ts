// A worker is often started before its control plane: a machine boots, a service manager starts
// everything at once, the control plane restarts. Its first registration waits for the control
// plane to answer (as an agent would), saying so, instead of exiting; a refusal still ends it at once.
import { sleepUnless } from "../lib/pause.ts";
import { isTransient } from "./control-plane.ts";

const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 5_000;
// While it waits, the line is said again this often (a log should show it is still waiting).
const SAY_EVERY_MS = 60_000;

export interface FirstJoinOptions {
  /** The control plane's URL, for the messages. */
  url: string;
  /** How long to wait for it (ms); Infinity = until it answers. */
  waitMs: number;
  /** Stops the waiting (the worker was told to stop before it joined). */
  signal?: AbortSignal;
  say(line: string): void;
}

/** `register()` again, with backoff, while the control plane is unreachable or failing; its last error past `waitMs` or once `signal` aborts. */
export async function joinWhenReachable<T>(register: () => Promise<T>, o: FirstJoinOptions): Promise<T> {
  const giveUpAt = Date.now() + o.waitMs;
  let delay = FIRST_DELAY_MS;
  let saidAt = 0;
  let waited = false;
  for (;;) {
    try {
      const joined = await register();
      if (waited) o.say(`the control plane at ${o.url} answers: joining`);
      return joined;
    } catch (err) {
      if (!isTransient(err) || o.signal?.aborted || Date.now() + delay > giveUpAt) throw err;
      if (Date.now() - saidAt >= SAY_EVERY_MS) {
        const why = ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
        const until = Number.isFinite(o.waitMs) ? `for up to ${Math.round(o.waitMs / 1000)} s` : "until it answers (Ctrl-C to stop)";
        o.say(`waiting for the control plane at ${o.url} (${why}); trying again ${until}. Is \`nbx up\` running there? Check --platform`);
        saidAt = Date.now();
      }
      waited = true;
      await sleepUnless(delay, o.signal ?? new AbortController().signal);
      if (o.signal?.aborted) throw err;
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  }
}
