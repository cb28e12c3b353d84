// Named prepared statements for the embedded store. PGlite runs every `query` as six protocol
// round trips into the wasm backend (parse, describe, bind, describe, execute, sync), and the
// parse and plan of a short statement cost several times its execution: a one-run finish took
// ~1 ms, of which ~0.15 ms was the update itself. The store sends the same few statement texts
// over and over, so each text is parsed once under a name, and later calls send bind, describe,
// execute and sync as one message. Postgres's plan cache then decides per statement whether a
// generic plan is as good as a fresh one, exactly as it does for any client's prepared statements.
import { parse, protocol, type PGlite, type QueryOptions, type Results } from "@electric-sql/pglite";

/** How many statement texts stay prepared; the least recently used one is closed beyond that. */
const MAX_PREPARED = 200;

/** A prepared statement that must be parsed again: it is gone, or a table it reads changed shape. */
const isStale = (e: DatabaseError) => e.code === "26000" || (e.code === "0A000" && /cached plan/.test(e.message));

interface Prepared {
  name: string;
  /** Parameter type oids, as the backend inferred them: how each value is serialised. */
  paramTypes: number[];
}

type DatabaseError = Error & { code?: string; query?: string; params?: unknown[]; queryOptions?: QueryOptions };

/**
 * Route `client.query` (outside transactions; those keep PGlite's own path) through named prepared
 * statements, one per distinct SQL text, under PGlite's own locks so it interleaves with
 * transactions and `exec` exactly as `query` does.
 */
export function usePreparedStatements(client: PGlite, max = MAX_PREPARED): void {
  const statements = new Map<string, Prepared>();
  let seq = 0;

  const send = async (parts: Uint8Array[], syncToFs: boolean) => (await client.execProtocol(Buffer.concat([...parts, protocol.serialize.sync()]), { syncToFs })).messages;

  const prepare = async (text: string): Promise<Prepared> => {
    const known = statements.get(text);
    if (known) {
      // Map order is recency order: the first entry is the one to close next.
      statements.delete(text);
      statements.set(text, known);
      return known;
    }
    if (statements.size >= max) {
      const [oldText, old] = statements.entries().next().value as [string, Prepared];
      statements.delete(oldText);
      await send([protocol.serialize.close({ type: "S", name: old.name })], false);
    }
    const name = `nbox_s${++seq}`;
    const messages = await send([protocol.serialize.parse({ name, text }), protocol.serialize.describe({ type: "S", name })], false);
    const prepared = { name, paramTypes: parse.parseDescribeStatementResults(messages) };
    statements.set(text, prepared);
    return prepared;
  };

  const run = async <T>(text: string, params: unknown[], options: QueryOptions | undefined): Promise<Results<T>> => {
    const { name, paramTypes } = await prepare(text);
    const values = params.map((value, i) => {
      if (value === null || value === undefined) return null;
      const serialize = options?.serializers?.[paramTypes[i]!] ?? client.serializers[paramTypes[i]!];
      return serialize ? serialize(value) : String(value);
    });
    const messages = await send(
      [protocol.serialize.bind({ statement: name, values }), protocol.serialize.describe({ type: "P" }), protocol.serialize.execute({})],
      true,
    );
    return parse.parseResults(messages, client.parsers, options)[0] as Results<T>;
  };

  const original = client.query.bind(client);
  client.query = async <T>(text: string, params: unknown[] = [], options?: QueryOptions): Promise<Results<T>> => {
    // Blob transfers (COPY to/from /dev/blob) need PGlite's own bookkeeping.
    if (options?.blob || options?.paramTypes) return original<T>(text, params, options);
    await client._checkReady();
    return client._runExclusiveTransaction(() =>
      client._runExclusiveQuery(async () => {
        try {
          return await run<T>(text, params, options);
        } catch (err) {
          const e = err as DatabaseError;
          if (!isStale(e) || !statements.has(text)) throw withQuery(e, text, params, options);
          // A migration changed a table under a prepared statement: parse it again, once.
          const stale = statements.get(text)!;
          statements.delete(text);
          await send([protocol.serialize.close({ type: "S", name: stale.name })], false).catch(() => {});
          try {
            return await run<T>(text, params, options);
          } catch (again) {
            throw withQuery(again as DatabaseError, text, params, options);
          }
        }
      }),
    );
  };
}

/** The same fields PGlite's own `query` adds to a database error, so callers see no difference. */
function withQuery(err: DatabaseError, query: string, params: unknown[], options: QueryOptions | undefined): DatabaseError {
  if (err && typeof err === "object" && "code" in err) {
    err.query = query;
    err.params = params;
    err.queryOptions = options;
  }
  return err;
}
