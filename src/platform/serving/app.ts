// The HTTP app a serving child process runs (its routes), over one live instance.
// The platform proxy in front of it does auth and routing; this app trusts only requests that
// carry the per-process secret. Chained so `typeof app` carries the routes.
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { Hono, type Context } from "hono";
import { getTracer } from "../../trace/tracer.ts";
import { parseTraceParent } from "../../trace/traceparent.ts";
import { CallArgs } from "./call-args.ts";
import { CallQueue } from "./call-queue.ts";
import { SECRET_HEADER } from "./protocol.ts";
import { openApiFor } from "./openapi.ts";
import { isWritableField, readField, reachable, whoAreYou, type MethodInfo, type Surface } from "./surface.ts";
import { errBody as errBodyOf, okBody, requestEncoding, responseEncoding, ServingError, statusOf, TAGGED_JSON, type ValueEncoding } from "./wire.ts";

export interface ServingAppOptions {
  surface: Surface;
  meta: { name: string; kind: string; version: string };
  /** Per-call timeout (ms); 0 = none. */
  timeoutMs: number;
  /** Calls at once on the instance; 0 = unbounded. */
  concurrency: number;
  maxBodyBytes: number;
  /** When set, requests without this value in `SECRET_HEADER` get 403. */
  secret?: string;
  publicUrl?: string;
  /** The bundle's folder: stacks in error bodies name paths relative to it, never host folders. */
  bundleRoot?: string;
}

type Iter = Iterator<unknown> | AsyncIterator<unknown>;

const NDJSON = { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store" };

function sameSecret(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const tooLarge = (max: number) => new ServingError("PAYLOAD_TOO_LARGE", `request body is larger than the limit of ${max} bytes`);

/** The request body as text, at most `max` bytes (chunked bodies are counted as they arrive). */
function readBody(c: Context, max: number): Promise<string> {
  // Under @hono/node-server: read the IncomingMessage itself (no WHATWG Request/stream per call).
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming && !incoming.readableDidRead) return readIncoming(incoming, max);
  return readWebBody(c.req.raw.body, max);
}

function readIncoming(incoming: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (err: Error) => {
      incoming.off("data", onData);
      incoming.off("end", onEnd);
      incoming.off("close", onClose);
      incoming.pause(); // the server drops or drains the rest after answering
      reject(err);
    };
    const onData = (b: Buffer) => {
      size += b.length;
      if (size > max) stop(tooLarge(max));
      else chunks.push(b);
    };
    const onEnd = () => {
      incoming.off("close", onClose);
      resolve(chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"));
    };
    const onClose = () => stop(new ServingError("BAD_REQUEST", "the request body was cut off"));
    incoming.on("data", onData);
    incoming.once("end", onEnd);
    incoming.once("close", onClose);
    incoming.once("error", stop);
  });
}

async function readWebBody(body: ReadableStream<Uint8Array> | null, max: number): Promise<string> {
  if (!body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      void reader.cancel().catch(() => {});
      throw tooLarge(max);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

async function readJson(c: Context, max: number): Promise<Record<string, unknown>> {
  const text = await readBody(c, max);
  if (!text) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ServingError("BAD_REQUEST", `malformed JSON body: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new ServingError("BAD_REQUEST", "the body must be a JSON object like { \"args\": [...] }");
  return v as Record<string, unknown>;
}

/** How the caller wants values: plain JSON unless it asks for the tagged codec (the SDK does). */
const encodings = (c: Context): { request: ValueEncoding; response: ValueEncoding } => ({
  request: requestEncoding(c.req.header("content-type")),
  response: responseEncoding(c.req.header("accept")),
});

/**
 * Build the serving app for one instance.
 * @example const app = createServingApp({ surface: surfaceOf(new Bar(), "class"), meta, timeoutMs: 30_000, concurrency: 1, maxBodyBytes: 1 << 20 })
 * await app.request("/call/inc", { method: "POST", body: "{}" })
 */
export function createServingApp(o: ServingAppOptions) {
  const { surface, meta } = o;
  const errBody = (err: unknown) => errBodyOf(err, o.bundleRoot);
  const queue = new CallQueue(o.concurrency);
  const tracer = getTracer();
  const timeout = { timeoutMs: o.timeoutMs };

  const method = (name: string): { info: MethodInfo; fn: Function } => {
    const info = reachable(name) ? surface.methods[name] : undefined;
    const fn = info ? surface.host[name] : undefined;
    if (!info || typeof fn !== "function") throw new ServingError("NOT_FOUND", `${meta.name} has no method "${name}"`);
    return { info, fn };
  };

  const callArgs = new CallArgs(surface.schemas);
  const args = async (c: Context, label: string, info: MethodInfo): Promise<unknown[]> =>
    callArgs.read(await readJson(c, o.maxBodyBytes), encodings(c).request, label, info);

  /** Run one call in the queue, inside a span named after the method, parented to the caller's traceparent. */
  const traced = <T>(c: Context, label: string, fn: () => T | Promise<T>): Promise<T> =>
    queue.run(() => tracer.withSpan(label, fn, { parent: parseTraceParent(c.req.header("traceparent")) ?? null, attributes: { serving: meta.name } }), { ...timeout, label: `${label}()` });

  const answer = async (c: Context, run: () => Promise<unknown>) => {
    let value: unknown;
    try {
      value = await run();
    } catch (err) {
      return c.json(errBody(err), statusOf(err) as 500);
    }
    const encoding = encodings(c).response;
    let body: string;
    try {
      body = JSON.stringify(okBody(value, encoding));
    } catch (err) {
      return c.json(errBody(err), 500); // the result does not encode: the user's value, the user's error
    }
    return c.body(body, 200, { "content-type": encoding === "tagged" ? `${TAGGED_JSON}; charset=utf-8` : "application/json; charset=utf-8" });
  };

  /** Generators called without streaming: collect every item (like awaiting a stream client-side). */
  const settle = async (value: unknown, kind: MethodInfo["kind"]): Promise<unknown> => {
    if (kind !== "generator" && kind !== "asyncGenerator") return value;
    const out: unknown[] = [];
    for await (const x of value as AsyncIterable<unknown>) out.push(x);
    return out;
  };

  const app = new Hono()
    .use("*", async (c, next) => {
      if (o.secret !== undefined && !sameSecret(c.req.header(SECRET_HEADER), o.secret)) {
        return c.json(errBody(new ServingError("FORBIDDEN", "requests reach a serving only through the platform")), 403);
      }
      // A declared length over the limit: 413 before reading (chunked bodies are counted in readBody).
      if (Number(c.req.header("content-length") ?? 0) > o.maxBodyBytes) return c.json(errBody(tooLarge(o.maxBodyBytes)), 413);
      await next();
    })
    .get("/", (c) => c.json({ ok: true, value: { status: "ready", name: meta.name, version: meta.version, queued: queue.pending } }))
    .get("/who_are_you", (c) => c.json({ ok: true, value: whoAreYou(surface, meta) }))
    .get("/openapi.json", (c) => c.json(openApiFor(whoAreYou(surface, meta), o.publicUrl ?? "/", surface.schemas)))
    .post("/forward", async (c) => {
      const fwd = surface.forward;
      if (!fwd) return c.json(errBody(new ServingError("NOT_FOUND", `${meta.name} has no forward(); call its methods at /call/<method>`)), 404);
      return answer(c, async () => {
        const list = await args(c, "forward", fwd.info);
        return traced(c, "forward", async () => settle(await fwd.call(list), fwd.info.kind));
      });
    })
    .post("/call/:method", (c) =>
      answer(c, async () => {
        const name = c.req.param("method");
        const { info, fn } = method(name);
        const list = await args(c, name, info);
        return traced(c, name, async () => settle(await fn.apply(surface.host, list), info.kind));
      }),
    )
    .post("/stream/:method", async (c) => {
      const name = c.req.param("method");
      let it: Iter;
      const tp = parseTraceParent(c.req.header("traceparent"));
      const span = tracer.startSpan(name, name, { parent: tp ?? null, attributes: { serving: meta.name, stream: true } });
      const inSpan = <T>(fn: () => T): T => tracer.runInFrame({ span, path: "" }, fn);
      try {
        const { info, fn } = method(name);
        const list = await args(c, name, info);
        const made = await queue.run(() => inSpan(() => fn.apply(surface.host, list)), { ...timeout, label: `${name}()` });
        const asyncIt = (made as AsyncIterable<unknown> | null)?.[Symbol.asyncIterator];
        const syncIt = (made as Iterable<unknown> | null)?.[Symbol.iterator];
        if (typeof asyncIt === "function") it = asyncIt.call(made);
        else if (typeof syncIt === "function" && typeof made !== "string") it = syncIt.call(made);
        else throw new ServingError("BAD_REQUEST", `${name}() is not a generator method; call it at /call/${name}`);
      } catch (err) {
        tracer.endSpan(span, err);
        return c.json(errBody(err), statusOf(err) as 500);
      }
      const enc = new TextEncoder();
      let finished = false;
      const finish = (err?: unknown) => {
        if (finished) return false;
        finished = true;
        tracer.endSpan(span, err);
        return true;
      };
      const line = (x: unknown) => enc.encode(JSON.stringify(x) + "\n");
      const encoding = encodings(c).response;
      const body = new ReadableStream<Uint8Array>(
        {
          // Pulled only when the connection can take more: a slow reader pauses the generator.
          async pull(ctrl) {
            if (finished) return;
            try {
              const r = await queue.run(() => inSpan(() => it.next()), { ...timeout, label: `${name}() step` });
              if (finished) return;
              if (r.done) {
                finish();
                ctrl.enqueue(line({ ok: true, done: true }));
                ctrl.close();
              } else ctrl.enqueue(line(okBody(r.value, encoding)));
            } catch (err) {
              if (!finish(err)) return;
              ctrl.enqueue(line(errBody(err)));
              ctrl.close();
              void Promise.resolve()
                .then(() => it.return?.())
                .catch(() => {});
            }
          },
          // The client went away (or broke out of its `for await`): stop the generator.
          async cancel() {
            if (!finish()) return;
            try {
              await queue.run(() => inSpan(() => it.return?.()), { ...timeout, label: `${name}() return` });
            } catch {
              // Cancellation is best effort: a generator stuck in a step cannot be returned.
            }
          },
        },
        { highWaterMark: 0 },
      );
      return new Response(body, { status: 200, headers: NDJSON });
    })
    .get("/attr/:name", (c) =>
      answer(c, async () => {
        const name = c.req.param("name");
        // Read on the live instance, in turn with calls: getters and Proxy traps are user code.
        const read = await queue.run(() => readField(surface, name), { ...timeout, label: `read ${name}` });
        if (!read.ok) throw new ServingError("NOT_FOUND", `${meta.name} ${read.why} "${name}"`);
        return read.value;
      }),
    )
    .put("/attr/:name", (c) =>
      answer(c, async () => {
        const name = c.req.param("name");
        if (!isWritableField(surface, name)) throw new ServingError("NOT_FOUND", `${meta.name} has no writable public field "${name}"`);
        const value = await callArgs.value(await readJson(c, o.maxBodyBytes), encodings(c).request, name);
        await queue.run(() => void (surface.host[name] = value), { ...timeout, label: `set ${name}` });
        return undefined;
      }),
    );
  app.notFound((c) => c.json(errBody(new ServingError("NOT_FOUND", `no serving route ${c.req.method} ${c.req.path}`)), 404));
  app.onError((err, c) => c.json(errBody(err), statusOf(err) as 500));
  return app;
}

export type ServingApp = ReturnType<typeof createServingApp>;
