// Which headers cross the serving proxy. The connection to a worker is pooled and shared by
// every caller, so message framing on it must come from the proxy alone: a caller's
// Content-Length or Transfer-Encoding that the proxy does not honour byte for byte would leave that
// connection half-read, and the next, unrelated request on it would be misparsed (request desync).
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import type { ProxyFailure } from "./proxy.ts";

/** Header the proxy adds: a worker refuses requests for its servings without it (403). */
export const SECRET_HEADER = "x-nbox-serving-secret";

/** Hop-by-hop headers: they describe one connection and never travel past it. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "te", "trailer", "upgrade", "expect"]);
/** Framing: the proxy sets its own, from the bytes it actually sends. */
const FRAMING = new Set(["content-length", "transfer-encoding"]);
/** The caller's credentials stay with the platform (user code never sees them); the worker's secret is the proxy's to add. */
const PLATFORM_ONLY = new Set(["host", "authorization", SECRET_HEADER]);

/** Header names the `Connection` header lists: hop-by-hop for this message too. */
function connectionListed(connection: string | string[] | undefined): Set<string> {
  const v = Array.isArray(connection) ? connection.join(",") : (connection ?? "");
  return new Set(v.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean));
}

function dropped(name: string, listed: Set<string>): boolean {
  return HOP_BY_HOP.has(name) || FRAMING.has(name) || name.startsWith("proxy-") || listed.has(name);
}

/** A caller's request headers as the child gets them: no hop-by-hop, framing or platform-only headers. */
export function upstreamHeaders(incoming: IncomingHttpHeaders | Headers, secret: string): OutgoingHttpHeaders {
  const entries: [string, string | string[] | undefined][] = incoming instanceof Headers ? [...incoming] : Object.entries(incoming);
  const listed = connectionListed(incoming instanceof Headers ? (incoming.get("connection") ?? undefined) : incoming.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of entries) if (v !== undefined && !dropped(k, listed) && !PLATFORM_ONLY.has(k)) out[k] = v;
  out[SECRET_HEADER] = secret;
  return out;
}

/** The child's response headers as the caller gets them: no hop-by-hop headers (the length of a passed-through body stays). */
export function downstreamHeaders(incoming: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = connectionListed(incoming.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(incoming)) if (v !== undefined && (k === "content-length" || !dropped(k, listed))) out[k] = v;
  return out;
}

/**
 * GET and HEAD carry no body here (no serving route reads one). One that declares a body is refused
 * rather than forwarded without it: silently dropping what the caller sent would hide their mistake.
 */
export function bodylessRefusal(method: string | undefined, header: (name: string) => string | undefined): ProxyFailure | undefined {
  if (method !== "GET" && method !== "HEAD") return undefined;
  const te = header("transfer-encoding");
  const cl = header("content-length");
  if (te === undefined && (cl === undefined || cl.trim() === "0")) return undefined;
  const what = te !== undefined ? `Transfer-Encoding: ${te}` : `Content-Length: ${cl}`;
  return {
    status: 400,
    error: { name: "NboxError", code: "BAD_REQUEST", message: `a ${method} request to a serving has no body, but this one declares ${what}; send arguments with POST (call/<method>, forward) or PUT (attr/<name>), or drop the body` },
  };
}
