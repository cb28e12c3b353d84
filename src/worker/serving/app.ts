// The HTTP app of one serving (its routes). It runs in the worker's process, which hands it the
// requests the control plane's proxy checked and routed; the instance lives in the child runtime,
// and every operation on it is one call over IPC (runtime/protocol.ts). The instance's FIFO and
// call timeouts live in the child, next to the instance (runtime/target.ts). It has no socket of its
// own: nothing reaches it but the worker's listener. Chained so `typeof app` carries the routes.
import type { IncomingMessage } from "node:http";
import { Hono, type Context } from "hono";
import { fromWire, toWire } from "../../codec/index.ts";
import type { CallOp } from "../runtime/protocol.ts";
import type { CallOptions, CallResult } from "../runtime/runtime-process.ts";
import { reachable, whoAreYou, type MethodInfo, type SurfaceInfo } from "../runtime/surface.ts";
import { CallArgs } from "./call-args.ts";
import { openApiFor } from "./openapi.ts";
import { errBody, okBody, requestEncoding, responseEncoding, ServingError, statusOf, TAGGED_JSON, type ValueEncoding } from "./wire.ts";

export interface ServingAppOptions {
  /** The child runtime holding the instance (a RuntimeProcess in serving mode). */
  runtime: { call(op: CallOp, opts?: CallOptions): Promise<CallResult> };
  /** What the instance exposes, as the runtime reported when it was ready. */
  surface: SurfaceInfo;
  meta: { name: string; kind: string; version: string };
  maxBodyBytes: number;
  publicUrl?: string;
  /** The error a call answers with when the runtime died under it (default: 503 WORKER_CRASHED). */
  crashError?: (wire: unknown) => ServingError;
}

const NDJSON = { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store" };

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
 * Build the serving app for one instance held by a child runtime.
 * @example const loaded = await runtime.loaded; // a RuntimeProcess in serving mode
 * const app = createServingApp({ runtime, surface: loaded.surface, meta, maxBodyBytes: 1 << 20 })
 * await app.request("/call/inc", { method: "POST", body: "{}" })
 */
export function createServingApp(o: ServingAppOptions) {
  const { surface, meta } = o;
  const crashError = o.crashError ?? ((wire: unknown) => new ServingError("WORKER_CRASHED", `serving ${meta.name} died while handling this request: ${readError(wire).message}`, "ServingCrashed"));
  let streams = 0;

  /**
   * One operation in the child: its encoded answer, or what it threw — user errors as thrown;
   * refusals, timeouts and crashes as ServingErrors with their code.
   */
  const run = async (op: CallOp, encoding?: ValueEncoding, traceparent?: string): Promise<any> => {
    const r = await o.runtime.call(op, { encoding, traceparent });
    if (r.ok) return r.value;
    if (r.reason === "crash") throw crashError(r.error);
    if (r.refused) {
      const e = readError(r.error);
      throw new ServingError(r.refused, e.message, e.name === "Error" ? "ServingError" : e.name);
    }
    throw fromWire(r.error);
  };

  const method = (name: string): MethodInfo => {
    const info = reachable(name) ? surface.methods[name] : undefined;
    if (!info) throw new ServingError("NOT_FOUND", `${meta.name} has no method "${name}"; its methods: ${Object.keys(surface.methods).join(", ") || "none"}`);
    return info;
  };

  const callArgs = new CallArgs(surface.schemas);
  /** The checked arguments of a call, as codec wire for the child. */
  const args = async (c: Context, label: string, info: MethodInfo): Promise<unknown[]> =>
    (await callArgs.read(await readJson(c, o.maxBodyBytes), encodings(c).request, label, info)).map((a) => toWire(a));

  const answer = async (c: Context, fn: () => Promise<unknown>) => {
    let encoded: unknown;
    try {
      encoded = await fn();
    } catch (err) {
      return c.json(errBody(err), statusOf(err) as 500);
    }
    const encoding = encodings(c).response;
    return c.body(JSON.stringify(okBody(encoded, encoding)), 200, { "content-type": encoding === "tagged" ? `${TAGGED_JSON}; charset=utf-8` : "application/json; charset=utf-8" });
  };

  /** One call on the instance (in turn in its FIFO in the child, where its span is made, parented to the caller's traceparent). */
  const onInstance = (c: Context, op: CallOp) => run(op, encodings(c).response, c.req.header("traceparent"));

  /** The instance's public fields right now (a call may have added some). */
  const fields = (): Promise<string[]> => run({ kind: "fields" });

  const app = new Hono()
    .use("*", async (c, next) => {
      // A declared length over the limit: 413 before reading (chunked bodies are counted in readBody).
      if (Number(c.req.header("content-length") ?? 0) > o.maxBodyBytes) return c.json(errBody(tooLarge(o.maxBodyBytes)), 413);
      await next();
    })
    // Health: answered only once the child's event loop is free to (a blocked child fails the platform's watchdog).
    .get("/", async (c) => {
      let waiting: number;
      try {
        ({ queued: waiting } = await run({ kind: "ping" }));
      } catch (err) {
        return c.json(errBody(err), statusOf(err) as 500);
      }
      return c.json({ ok: true, value: { status: "ready", name: meta.name, version: meta.version, queued: waiting } });
    })
    .get("/who_are_you", async (c) => {
      try {
        return c.json({ ok: true, value: whoAreYou(surface, await fields(), meta) });
      } catch (err) {
        return c.json(errBody(err), statusOf(err) as 500);
      }
    })
    .get("/openapi.json", async (c) => {
      try {
        return c.json(openApiFor(whoAreYou(surface, await fields(), meta), o.publicUrl ?? "/", surface.schemas));
      } catch (err) {
        return c.json(errBody(err), statusOf(err) as 500);
      }
    })
    .post("/forward", async (c) => {
      const fwd = surface.forward;
      if (!fwd) return c.json(errBody(new ServingError("NOT_FOUND", `${meta.name} has no forward(); call its methods at /call/<method>`)), 404);
      return answer(c, async () => onInstance(c, { kind: "forward", args: await args(c, "forward", fwd) }));
    })
    .post("/call/:method", (c) =>
      answer(c, async () => {
        const name = c.req.param("method");
        const info = method(name);
        return onInstance(c, { kind: "method", name, args: await args(c, name, info) });
      }),
    )
    .post("/stream/:method", async (c) => {
      const name = c.req.param("method");
      const stream = ++streams;
      const encoding = encodings(c).response;
      try {
        const info = method(name);
        await onInstance(c, { kind: "stream-start", stream, name, args: await args(c, name, info) });
      } catch (err) {
        return c.json(errBody(err), statusOf(err) as 500);
      }
      const enc = new TextEncoder();
      let finished = false;
      const line = (x: unknown) => enc.encode(JSON.stringify(x) + "\n");
      const body = new ReadableStream<Uint8Array>(
        {
          // Pulled only when the connection can take more: a slow reader pauses the generator.
          async pull(ctrl) {
            if (finished) return;
            try {
              const r = (await run({ kind: "stream-next", stream }, encoding)) as { done: boolean; value?: unknown };
              if (finished) return;
              if (r.done) {
                finished = true;
                ctrl.enqueue(line({ ok: true, done: true }));
                ctrl.close();
              } else ctrl.enqueue(line(okBody(r.value, encoding)));
            } catch (err) {
              // A failed or late step ended the stream in the child too.
              if (finished) return;
              finished = true;
              ctrl.enqueue(line(errBody(err)));
              ctrl.close();
            }
          },
          // The client went away (or broke out of its `for await`): stop the generator.
          async cancel() {
            if (finished) return;
            finished = true;
            await run({ kind: "stream-return", stream }).catch(() => {
              // Cancellation is best effort: a generator stuck in a step cannot be returned.
            });
          },
        },
        { highWaterMark: 0 },
      );
      return new Response(body, { status: 200, headers: NDJSON });
    })
    .get("/attr/:name", (c) =>
      answer(c, async () => {
        const name = c.req.param("name");
        return onInstance(c, { kind: "get", name });
      }),
    )
    .put("/attr/:name", (c) =>
      answer(c, async () => {
        const name = c.req.param("name");
        if (!reachable(name) || !(await run({ kind: "writable", name }))) throw new ServingError("NOT_FOUND", `${meta.name} has no writable public field "${name}"`);
        const value = await callArgs.value(await readJson(c, o.maxBodyBytes), encodings(c).request, name);
        return onInstance(c, { kind: "set", name, value: toWire(value) });
      }),
    );
  app.notFound((c) => c.json(errBody(new ServingError("NOT_FOUND", `no serving route ${c.req.method} ${c.req.path}`)), 404));
  app.onError((err, c) => c.json(errBody(err), statusOf(err) as 500));
  return app;
}

export type ServingApp = ReturnType<typeof createServingApp>;

function readError(wire: unknown): { name: string; message: string } {
  try {
    const e = fromWire(wire);
    return e instanceof Error ? { name: e.name, message: e.message } : { name: "Error", message: String(e) };
  } catch {
    return { name: "Error", message: "unreadable error" };
  }
}
