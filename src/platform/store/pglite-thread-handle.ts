// One run of the embedded store's thread, seen from the control plane: statements out by id, their
// answers, and the thread's end. pglite-thread-client.ts decides what happens after an end it did
// not ask for; pglite-host.ts is the other side.
import { Worker } from "node:worker_threads";
import { errorFromWire, STORE_STOPPED, type StoreReply, type StoreRequest } from "./pglite-wire.ts";

const ENTRY = new URL("./pglite-thread.mjs", import.meta.url);

export type Request = StoreRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

export interface StoreThread {
  readonly worker: Worker;
  /** Send one request; rejects with a STORE_STOPPED error once the thread has ended. */
  call<T>(req: Request): Promise<T>;
  /** Let what was asked finish, then end the thread. */
  close(): Promise<void>;
}

/** The error of every statement once the store's thread has stopped (closed or died). */
export function storeStopped(why: string): Error {
  return Object.assign(new Error(`the embedded store's thread ${why}`), { code: STORE_STOPPED });
}

/** Start the thread on `pgdata`; resolves once PGlite there is ready. `onEnd`: it ended without being asked to. */
export function startStoreThread(pgdata: string, onEnd: (why: string) => void): Promise<StoreThread> {
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
    stopped ??= storeStopped(why);
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
  let readyOnce = false;
  const ended = (why: string) => {
    const unasked = !closing && !stopped && readyOnce;
    stop(why);
    if (unasked) onEnd(why);
  };
  worker.on("error", (err) => ended(`failed: ${err.message}`));
  worker.on("exit", (code) => ended(code === 0 ? "was closed" : `exited with code ${code}`));

  const thread: StoreThread = {
    worker,
    call<T>(req: Request): Promise<T> {
      if (stopped) return Promise.reject(stopped);
      const id = ++seq;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        holdOpen();
        worker.postMessage({ id, ...req });
      });
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
      readyOnce = true;
      holdOpen();
      return thread;
    },
    async (err: unknown) => {
      await worker.terminate();
      throw err;
    },
  );
}
