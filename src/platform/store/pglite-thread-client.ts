// The embedded store runs on a thread of its own. PGlite executes Postgres in WebAssembly on the
// thread that calls it, and on the control plane's thread each statement held up every request
// meanwhile: a batch of spans or finishes (a few ms) stalled every serving call behind it, and under
// a fan-out the store took more than half of that thread's time. Here the control plane only sends
// statements and awaits rows; drizzle sees a client with PGlite's `query` and `transaction`.
import { Worker } from "node:worker_threads";
import type { QueryOptions, Results } from "@electric-sql/pglite";
import { errorFromWire, STORE_STOPPED, type StoreReply, type StoreRequest } from "./pglite-wire.ts";

const ENTRY = new URL("./pglite-thread.mjs", import.meta.url);

type Request = StoreRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

interface Queryable {
  query<T>(text: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>>;
}

export interface ThreadClient extends Queryable {
  /** Statements by the simple protocol (several, no parameters), as PGlite's `exec`. */
  exec(text: string): Promise<Results[]>;
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Start the store's thread on `pgdata`; resolves once PGlite there is ready. */
export function openPgliteThread(pgdata: string): Promise<ThreadClient> {
  // None of the process's Node options: they are for its main script (`-e`, `--input-type`, a loader
  // the thread installs itself when it needs one); V8's flags apply to every thread anyway.
  const worker = new Worker(ENTRY, { workerData: { pgdata }, execArgv: [] });
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  let seq = 0;
  let stopped: Error | undefined;
  let closing: Promise<void> | undefined;
  // The thread keeps the process alive only while a statement is out or it is closing (like a socket
  // with a request on it). One rule for both: a reply that empties the pending set during a close
  // must not let the process go before the thread has ended.
  const holdOpen = () => (pending.size > 0 || closing ? worker.ref() : worker.unref());
  let ready!: { resolve(): void; reject(e: unknown): void };
  const started = new Promise<void>((resolve, reject) => (ready = { resolve, reject }));

  const stop = (why: string) => {
    stopped ??= Object.assign(new Error(`the embedded store's thread ${why}`), { code: STORE_STOPPED });
    ready.reject(stopped);
    for (const p of pending.values()) p.reject(stopped);
    pending.clear();
  };
  worker.on("message", (m: StoreReply) => {
    if (m.id === 0) {
      if (m.ok) ready.resolve();
      else ready.reject(errorFromWire(m.error));
      return;
    }
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    holdOpen();
    if (m.ok) p.resolve(m.value);
    else p.reject(errorFromWire(m.error));
  });
  // Not asked to close: every statement from now on fails, and whoever runs the platform must hear why.
  const unexpected = (why: string) => {
    if (!closing && !stopped) console.error(`[nbox] the embedded store's thread ${why}; statements fail (503) until the platform is restarted`);
    stop(why);
  };
  worker.on("error", (err) => unexpected(`failed: ${err.message}`));
  worker.on("exit", (code) => unexpected(code === 0 ? "was closed" : `exited with code ${code}`));

  const call = <T>(req: Request): Promise<T> => {
    if (stopped) return Promise.reject(stopped);
    const id = ++seq;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      holdOpen();
      worker.postMessage({ id, ...req });
    });
  };

  const queryOn =
    (tx?: number) =>
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
      return call<Results<T>>({ op: "query", text, params, rowMode: options?.rowMode, identity, ...(tx === undefined ? {} : { tx }) });
    };

  const client: ThreadClient = {
    query: queryOn(),
    exec: (text) => call<Results[]>({ op: "exec", text }),
    async transaction(fn) {
      const tx = await call<number>({ op: "begin" });
      let value;
      try {
        value = await fn({ query: queryOn(tx) });
      } catch (err) {
        await call({ op: "end", tx, commit: false }).catch(() => {});
        throw err;
      }
      await call({ op: "end", tx, commit: true });
      return value;
    },
    close() {
      if (closing) return closing;
      closing = stopped ? Promise.resolve() : new Promise<void>((resolve) => worker.once("exit", () => resolve()));
      holdOpen();
      if (!stopped) worker.postMessage({ id: ++seq, op: "close" } satisfies StoreRequest);
      return closing;
    },
  };
  return started.then(
    () => {
      holdOpen();
      return client;
    },
    async (err: unknown) => {
      await worker.terminate();
      throw err;
    },
  );
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
