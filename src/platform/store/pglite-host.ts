// The embedded store's thread: one PGlite on the data folder, serving the control plane's queries
// and transactions (pglite-thread-client.ts is the other end). Everything PGlite does runs here.
import { parentPort, workerData } from "node:worker_threads";
import type { QueryOptions, Transaction } from "@electric-sql/pglite";
import { openDurablePglite } from "./pglite-durable.ts";
import { usePreparedStatements } from "./pglite-prepared.ts";
import { errorToWire, type StoreReply, type StoreRequest } from "./pglite-wire.ts";

/** Thrown inside a transaction to roll it back when the control plane's side failed. */
const ROLLBACK = Symbol("rollback");

export async function hostPglite(): Promise<void> {
  const port = parentPort!;
  const { pgdata } = workerData as { pgdata: string };
  const client = openDurablePglite(pgdata);
  try {
    await client.waitReady;
  } catch (err) {
    port.postMessage({ id: 0, ok: false, error: errorToWire(err) } satisfies StoreReply);
    return;
  }
  usePreparedStatements(client);
  const open = new Map<number, { tx: Transaction; end(commit: boolean): void; done: Promise<unknown> }>();
  let txSeq = 0;

  const query = (r: Extract<StoreRequest, { op: "query" }>) => {
    // Parsers cannot cross threads; the ones drizzle sends all hand a column's text through as it is.
    const options: QueryOptions = { rowMode: r.rowMode, parsers: Object.fromEntries(r.identity.map((oid) => [oid, (v: string) => v])) };
    if (r.tx === undefined) return client.query(r.text, r.params, options);
    const t = open.get(r.tx);
    if (!t) throw new Error(`store thread: transaction ${r.tx} is not open`);
    return t.tx.query(r.text, r.params, options);
  };

  const begin = () =>
    new Promise<number>((resolve, reject) => {
      const id = ++txSeq;
      let end!: (commit: boolean) => void;
      const decided = new Promise<boolean>((r) => (end = r));
      const done = client.transaction(async (tx) => {
        open.set(id, { tx, end, done });
        resolve(id);
        if (!(await decided)) throw ROLLBACK;
      });
      // BEGIN itself failed: nothing was opened.
      done.catch(reject).finally(() => open.delete(id));
    });

  const finish = async (tx: number, commit: boolean) => {
    const t = open.get(tx);
    if (!t) throw new Error(`store thread: transaction ${tx} is not open`);
    t.end(commit);
    try {
      await t.done;
    } catch (err) {
      if (err !== ROLLBACK) throw err;
    }
  };

  const handle = async (r: StoreRequest): Promise<unknown> => {
    switch (r.op) {
      case "query":
        return query(r);
      case "exec":
        return client.exec(r.text);
      case "begin":
        return begin();
      case "end":
        return finish(r.tx, r.commit);
      case "close":
        await client.close();
        port.close();
        return undefined;
    }
  };

  // Requests run as they come (PGlite orders them itself), but a close first lets everything asked
  // before it finish and be answered: the port closes with it, and an answer after that is lost.
  const inflight = new Set<Promise<unknown>>();
  port.on("message", (r: StoreRequest) => {
    const run = r.op === "close" ? Promise.allSettled([...inflight]).then(() => handle(r)) : handle(r);
    const answered = run.then(
      (value) => r.op !== "close" && port.postMessage({ id: r.id, ok: true, value } satisfies StoreReply),
      (err: unknown) => port.postMessage({ id: r.id, ok: false, error: errorToWire(err) } satisfies StoreReply),
    );
    inflight.add(answered);
    void answered.finally(() => inflight.delete(answered));
  });
  port.postMessage({ id: 0, ok: true, value: "ready" } satisfies StoreReply);
}
