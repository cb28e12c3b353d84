// The serving proxy: the control plane's router to the listener of the worker hosting the serving
// (which hands the request to the serving's app in its own process). Method, path, headers (incl.
// `traceparent`) and body go through; the response streams back as it comes (NDJSON streams,
// backpressure). When the caller goes away, the upstream request is destroyed, which cancels a
// streaming generator in the child. The caller's bearer token is not forwarded: user code never
// sees it. Framing towards the upstream is the proxy's own (see proxy-headers.ts): a body read
// whole goes with its actual length, a streamed one chunked, and GET/HEAD go without one.
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { bodylessRefusal, downstreamHeaders, upstreamHeaders } from "./proxy-headers.ts";
import type { WireError } from "../contract/wire-error.ts";

/** Where the upstream (a worker's listener) listens. */
export type UpstreamAddress = { host: string; port: number };

export interface Upstream {
  address: UpstreamAddress;
  agent: http.Agent;
  secret: string;
}

export interface ProxyFailure {
  status: number;
  error: WireError;
  /** Extra response headers (e.g. `retry-after` when the upstream is being replaced). */
  headers?: Record<string, string>;
}

export interface ProxyOptions {
  maxBodyBytes: number;
  /** The status and error to answer when the child fails before answering (crashed, killed). */
  onUpstreamError(err: Error): ProxyFailure;
}

function sendJson(res: ServerResponse, status: number, body: unknown, close = false, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), ...(close ? { connection: "close" } : {}) });
  res.end(text);
}

/** Bodies up to this size (by Content-Length) are read whole and sent as one write; larger or chunked ones stream. */
const BUFFER_BYTES = 64 * 1024;

const tooLarge = (max: number): ProxyFailure => ({
  status: 413,
  error: { name: "NboxError", code: "PAYLOAD_TOO_LARGE", message: `request body is larger than the limit of ${max} bytes` },
});

/**
 * One request to the upstream over node:http (keep-alive agent); resolves when the exchange is over.
 * Small bodies and small answers (known length) go through whole, in one write each way; anything
 * else (chunked uploads, NDJSON streams, large bodies) is piped chunk by chunk with backpressure.
 */
export function proxyNode(incoming: IncomingMessage, outgoing: ServerResponse, up: Upstream, path: string, o: ProxyOptions): Promise<void> {
  return new Promise<void>((done) => {
    let settled = false;
    let upstream: http.ClientRequest | undefined;
    const finish = () => {
      if (settled) return;
      settled = true;
      done();
    };
    const fail = (f: ProxyFailure) => {
      upstream?.destroy();
      sendJson(outgoing, f.status, { ok: false, error: f.error }, false, f.headers);
      finish();
    };
    // The caller went away before the answer was complete: drop the upstream exchange too
    // (for a stream, the child sees the socket close and cancels the generator).
    outgoing.on("close", () => {
      if (!outgoing.writableFinished) upstream?.destroy();
      finish();
    });

    // `framing`: the proxy's own Content-Length or chunked encoding for the body it is about to send.
    const open = (framing: http.OutgoingHttpHeaders = {}): http.ClientRequest => {
      const headers = { ...upstreamHeaders(incoming.headers, up.secret), ...framing };
      const req = http.request({ ...up.address, method: incoming.method, path, headers, agent: up.agent });
      req.on("response", (res) => answer(res));
      req.on("error", (err) => {
        if (!outgoing.headersSent) {
          const f = o.onUpstreamError(err);
          sendJson(outgoing, f.status, { ok: false, error: f.error }, false, f.headers);
        } else outgoing.destroy();
        finish();
      });
      return (upstream = req);
    };

    const answer = (res: IncomingMessage) => {
      const status = res.statusCode ?? 502;
      const headers = downstreamHeaders(res.headers);
      const length = res.headers["content-length"];
      res.on("error", () => outgoing.destroy());
      if (length !== undefined && Number(length) <= BUFFER_BYTES) {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          if (!outgoing.destroyed) {
            outgoing.writeHead(status, headers);
            outgoing.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
          }
          finish();
        });
        res.on("close", () => {
          if (!res.complete) outgoing.destroy();
          finish();
        });
        return;
      }
      outgoing.writeHead(status, headers);
      // Streams (no length): send the head now, then each chunk as the child writes it.
      if (length === undefined) outgoing.flushHeaders();
      res.pipe(outgoing);
      res.on("end", finish);
      res.on("close", finish);
    };

    const refused = bodylessRefusal(incoming.method, (h) => incoming.headers[h] as string | undefined);
    if (refused) {
      // The caller's connection carries a body nobody reads: close it after the answer.
      sendJson(outgoing, refused.status, { ok: false, error: refused.error }, true);
      finish();
      return;
    }
    if (incoming.method === "GET" || incoming.method === "HEAD") {
      open().end();
      return;
    }
    const declared = incoming.headers["content-length"];
    if (declared !== undefined && incoming.headers["transfer-encoding"] === undefined && Number(declared) <= BUFFER_BYTES) {
      // A small body: read it whole, then send head + body to the child in one write.
      const chunks: Buffer[] = [];
      let seen = 0;
      incoming.on("data", (c: Buffer) => {
        seen += c.length;
        if (seen <= o.maxBodyBytes) chunks.push(c);
        else if (!settled) fail(tooLarge(o.maxBodyBytes));
      });
      incoming.on("end", () => {
        if (settled || outgoing.destroyed) return;
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        open({ "content-length": body.length }).end(body);
      });
      return;
    }
    // Chunked (or large) bodies have no trustworthy length up front: count while streaming, and say
    // chunked explicitly (Node would otherwise send a DELETE/OPTIONS body with no framing at all).
    const req = open({ "transfer-encoding": "chunked" });
    let seen = 0;
    incoming.on("data", (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > o.maxBodyBytes && !settled) {
        incoming.unpipe(req);
        fail(tooLarge(o.maxBodyBytes));
      }
    });
    incoming.pipe(req);
  });
}

/**
 * The same exchange answered as a WHATWG Response: for HEAD requests (the router's framework answers
 * those with a copy of the handler's Response) and in-process `app.request()` calls (no Node sockets).
 */
export async function proxyFetch(req: Request, up: Upstream, path: string, o: ProxyOptions): Promise<Response> {
  const refused = bodylessRefusal(req.method, (h) => req.headers.get(h) ?? undefined);
  // The caller's connection carries a body nobody reads: close it after the answer.
  if (refused) return Response.json({ ok: false, error: refused.error }, { status: refused.status, headers: { connection: "close" } });
  const headers = upstreamHeaders(req.headers, up.secret);
  const body = req.method !== "GET" && req.method !== "HEAD" ? Buffer.from(await req.arrayBuffer()) : undefined;
  if (body && body.length > o.maxBodyBytes) {
    const f = tooLarge(o.maxBodyBytes);
    return Response.json({ ok: false, error: f.error }, { status: f.status });
  }
  if (body) headers["content-length"] = body.length;
  return new Promise<Response>((resolve) => {
    const upstream = http.request({ ...up.address, method: req.method, path, headers, agent: up.agent });
    const abort = () => upstream.destroy();
    req.signal.addEventListener("abort", abort, { once: true });
    upstream.on("response", (res) => {
      const out = new Headers();
      for (const [k, v] of Object.entries(downstreamHeaders(res.headers))) if (k !== "content-length" && v !== undefined) out.set(k, String(v));
      const stream = Readable.toWeb(res) as ReadableStream<Uint8Array>;
      res.on("close", () => req.signal.removeEventListener("abort", abort));
      resolve(new Response(res.statusCode === 204 || res.statusCode === 304 ? null : stream, { status: res.statusCode ?? 502, headers: out }));
    });
    upstream.on("error", (err) => {
      req.signal.removeEventListener("abort", abort);
      const f = o.onUpstreamError(err);
      resolve(Response.json({ ok: false, error: f.error }, { status: f.status }));
    });
    upstream.end(body);
  });
}
