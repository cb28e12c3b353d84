// The embedded store runs on a thread of its own. PGlite executes Postgres in WebAssembly on the
// thread that calls it, and on the control plane's thread each statement held up every request
// meanwhile: a batch of spans or finishes (a few ms) stalled every serving call behind it, and under
// a fan-out the store took more than half of that thread's time. Here the control plane only sends
// statements and awaits rows; drizzle sees a client with PGlite's `query` and `transaction`.
// A thread that ends unasked (a WebAssembly abort, say) is started again on the same folder, which
// PGlite recovers like after a power cut: the statements out at that moment fail, later ones work.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Worker } from "node:worker_threads";
import type { QueryOptions, Results } from "@electric-sql/pglite";
import { startStoreThread, storeStopped, type Request, type StoreThread } from "./pglite-thread-handle.ts";

interface Queryable {
  query<T>(text: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>>;
}

export interface ThreadClient extends Queryable {
  /** Statements by the simple protocol (several, no parameters), as PGlite's `exec`. */
  exec(text: string): Promise<Results[]>;
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /** The thread serving statements now (for inspection and tests). */
  readonly thread: Worker;
}

/** Restarts allowed within RESTART_WINDOW_MS: a thread that keeps dying is left stopped (503s), with why. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 10 * 60_000;
/** A restart that failed is tried again after this (doubling each time), within the same budget. */
const RETRY_START_MS = 1_000;

export interface ThreadOptions {
  /** How a thread is started (tests put a failing start in its place). */
  startThread?: typeof startStoreThread;
  /** The wait before trying again a start that failed (default 1 s). */
  retryStartMs?: number;
}

/** Start the store's thread on `pgdata`; resolves once PGlite there is ready. */
export async function openPgliteThread(pgdata: string, o: ThreadOptions = {}): Promise<ThreadClient> {
  const startThread = o.startThread ?? startStoreThread;
  let closing: Promise<void> | undefined;
  let retry: NodeJS.Timeout | undefined;
  const restarts: number[] = [];
  // Statements go to the thread current when they are asked; one asked while a restart is under
  // way waits for it (and fails with the restart if it fails).
  let current: Promise<StoreThread>;
  let thread: StoreThread;
  const start = (): Promise<StoreThread> => startThread(pgdata, ended).then((t) => (thread = t));
  const ended = (why: string): void => {
    if (closing) return;
    const now = Date.now();
    while (restarts.length > 0 && now - restarts[0]! > RESTART_WINDOW_MS) restarts.shift();
    if (restarts.length >= MAX_RESTARTS) {
      console.error(`[nbox] the embedded store's thread ${why}, the ${MAX_RESTARTS + 1}th time in ${RESTART_WINDOW_MS / 60_000} minutes; statements fail (503) until the platform is restarted`);
      return;
    }
    restarts.push(now);
    console.error(`[nbox] the embedded store's thread ${why}; starting it again (statements under way failed)`);
    // PGlite would make a new, empty database in a folder that is gone (moved, deleted): never in its place.
    const restart = existsSync(join(pgdata, "PG_VERSION")) ? start() : Promise.reject(new Error(`its database folder ${pgdata} is gone (moved or deleted?); no new empty one is made in its place`));
    current = restart.catch((err: unknown) => {
      // Whatever kept it from starting may pass (memory, say): tried again later, statements fail meanwhile.
      const why = `did not start again: ${(err as Error).message}`;
      if (!closing) {
        const wait = (o.retryStartMs ?? RETRY_START_MS) * 2 ** (restarts.length - 1);
        console.error(`[nbox] the embedded store's thread ${why}; statements fail (503) until it starts, tried again in ${wait} ms`);
        retry = setTimeout(() => ended(why), wait).unref();
      }
      throw storeStopped(why);
    });
    current.catch(() => {}); // statements asked from now on get the rejection; nobody else must
  };
  current = start();
  await current;
  const call = async <T>(req: Request): Promise<T> => (await current).call<T>(req);

  const queryOn =
    (run: <T>(req: Request) => Promise<T>, tx?: number) =>
    <T>(text: string, params: unknown[] = [], options?: QueryOptions): Promise<Results<T>> => {
      if (options?.blob || options?.serializers || options?.paramTypes) {
        return Promise.reject(new Error("the embedded store's thread takes no blob, serializers or paramTypes options"));
      }
      let identity: number[];
      try {
        identity = identityParsers(options);
      } catch (err) {
        return Promise.reject(err);
      }
      return run<Results<T>>({ op: "query", text, params, rowMode: options?.rowMode, identity, ...(tx === undefined ? {} : { tx }) });
    };

  return {
    query: queryOn(call),
    exec: (text) => call<Results[]>({ op: "exec", text }),
    async transaction(fn) {
      // A transaction lives on one thread: if that one ends, its statements fail (never run on the next).
      const t = await current;
      const tx = await t.call<number>({ op: "begin" });
      let value;
      try {
        value = await fn({ query: queryOn((req) => t.call(req), tx) });
      } catch (err) {
        await t.call({ op: "end", tx, commit: false }).catch(() => {});
        throw err;
      }
      await t.call({ op: "end", tx, commit: true });
      return value;
    },
    close() {
      clearTimeout(retry);
      closing ??= current.then(
        (t) => t.close(),
        () => undefined,
      );
      return closing;
    },
    get thread() {
      return thread.worker;
    },
  };
}

/**
 * The type oids whose parser hands the text through unchanged. Functions cannot cross to the thread;
 * drizzle's parsers (timestamps, dates, intervals kept as text) are all of that kind, and any other
 * is refused rather than silently dropped.
 */
function identityParsers(options: QueryOptions | undefined): number[] {
  const parsers = options?.parsers;
  if (!parsers) return [];
  return Object.entries(parsers).map(([oid, parse]) => {
    const probe = "2026-01-01 00:00:00";
    if (parse(probe, Number(oid)) !== probe) throw new Error(`the embedded store's thread only takes parsers that keep the text as it is (type ${oid})`);
    return Number(oid);
  });
}
