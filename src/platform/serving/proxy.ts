// Reverse proxy from the platform to a serving child: method, path, headers (incl. `traceparent`)
// and body go through; the response streams back as it comes (NDJSON streams, backpressure).
// When the caller goes away, the upstream request is destroyed, which cancels a streaming
// generator in the child. The caller's bearer token is not forwarded: user code never sees it.
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import { SECRET_HEADER } from "./protocol.ts";
import type { WireError } from "./wire.ts";

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "authorization",
  SECRET_HEADER,
]);

export interface Upstream {
  port: number;
  agent: http.Agent;
  secret: string;
}

export interface ProxyFailure {
  status: number;
  error: WireError;
}

export interface ProxyOptions {
  maxBodyBytes: number;
  /** The status and error to answer when the child fails before answering (crashed, killed). */
  onUpstreamError(err: Error): ProxyFailure;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function requestHeaders(incoming: IncomingMessage, secret: string): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(incoming.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  out[SECRET_HEADER] = secret;
  return out;
}

function responseHeaders(res: IncomingMessage): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined && k !== "connection" && k !== "keep-alive" && k !== "transfer-encoding") out[k] = v;
  return out;
}

/** Pipe one request to the child over node:http (keep-alive); resolves when the exchange is over. */
export function proxyNode(incoming: IncomingMessage, outgoing: ServerResponse, up: Upstream, path: string, o: ProxyOptions): Promise<void> {
  return new Promise<void>((done) => {
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      done();
    };
    const upstream = http.request({ host: "127.0.0.1", port: up.port, method: incoming.method, path, headers: requestHeaders(incoming, up.secret), agent: up.agent });
    upstream.on("response", (res) => {
      outgoing.writeHead(res.statusCode ?? 502, responseHeaders(res));
      // Streams (no length): send the head now, then each chunk as the child writes it.
      if (res.headers["content-length"] === undefined) outgoing.flushHeaders();
      res.pipe(outgoing);
      res.on("error", () => outgoing.destroy());
      res.on("end", finish);
      res.on("close", finish);
    });
    upstream.on("error", (err) => {
      if (!outgoing.headersSent) {
        const f = o.onUpstreamError(err);
        sendJson(outgoing, f.status, { ok: false, error: f.error });
      } else outgoing.destroy();
      finish();
    });
    // The caller went away before the answer was complete: drop the upstream exchange too.
    outgoing.on("close", () => {
      if (!outgoing.writableFinished) upstream.destroy();
      finish();
    });
    if (incoming.method === "GET" || incoming.method === "HEAD") {
      upstream.end();
      return;
    }
    // Chunked bodies have no Content-Length to check up front: count while streaming.
    let seen = 0;
    incoming.on("data", (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > o.maxBodyBytes && !upstream.destroyed) {
        incoming.unpipe(upstream);
        upstream.destroy();
        sendJson(outgoing, 413, { ok: false, error: { name: "NboxError", code: "PAYLOAD_TOO_LARGE", message: `request body is larger than the limit of ${o.maxBodyBytes} bytes` } });
        finish();
      }
    });
    incoming.pipe(upstream);
  });
}

/** The same exchange over fetch, for in-process `app.request()` calls (no Node sockets to pipe). */
export async function proxyFetch(req: Request, up: Upstream, path: string, o: ProxyOptions): Promise<Response> {
  const headers = new Headers();
  req.headers.forEach((v, k) => {
    if (!HOP_BY_HOP.has(k) && k !== "content-length") headers.set(k, v);
  });
  headers.set(SECRET_HEADER, up.secret);
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  try {
    const res = await fetch(`http://127.0.0.1:${up.port}${path}`, {
      method: req.method,
      headers,
      body: hasBody ? await req.arrayBuffer() : undefined,
      signal: req.signal,
    });
    const out = new Headers(res.headers);
    out.delete("content-length");
    out.delete("transfer-encoding");
    return new Response(res.body, { status: res.status, headers: out });
  } catch (err) {
    const f = o.onUpstreamError(err as Error);
    return Response.json({ ok: false, error: f.error }, { status: f.status });
  }
}
