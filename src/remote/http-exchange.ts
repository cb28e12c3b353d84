// One HTTP request with its whole answer as text, over node:http(s) with connections kept alive.
// The SDK and every worker make many small requests (run triggers, long-polls, reports); global
// fetch costs about five times the CPU per request of node:http on the client side, which showed up
// as a large share of a worker's time per run.
import http from "node:http";
import https from "node:https";

export interface ExchangeInit {
  method: string;
  headers: Record<string, string>;
  body?: string | Uint8Array | undefined;
  signal?: AbortSignal | undefined;
  /** Give up when no byte moved either way for this long (default five minutes, as fetch does). */
  idleMs?: number | undefined;
}

export interface ExchangeAnswer {
  status: number;
  text: string;
  /** The `Retry-After` header, as sent (a 503 says when to ask again). */
  retryAfter?: string | undefined;
}

// Node's agent closes an idle connection a second before the server's Keep-Alive hint says the
// server will, so a kept connection is rarely found closed; a repeatable request found so is
// retried. No cap on connections (as with fetch): a thousand remote calls awaited together are a
// thousand requests held open at once, and a cap would hold back all but the first triggers.
const transports = {
  "http:": { request: http.request, agent: new http.Agent({ keepAlive: true }) },
  "https:": { request: https.request, agent: new https.Agent({ keepAlive: true }) },
};

/** Methods a server must be able to receive twice (RFC 9110 idempotent methods). */
const REPEATABLE = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

// Every long-poll of the platform answers well within this; a peer gone without closing the
// connection (a network partition) must not hold a caller forever.
const IDLE_MS = 300_000;

/** An AbortError, as fetch throws it: callers tell a cancel from a failure by its name. */
function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === "AbortError") return reason;
  const err = new Error("This operation was aborted", { cause: reason });
  err.name = "AbortError";
  return err;
}

/** Sends `init` to `url`; rejects on network failure (AbortError when `signal` fired), never on an HTTP status. */
export function httpExchange(url: string, init: ExchangeInit): Promise<ExchangeAnswer> {
  return attempt(new URL(url), init, false);
}

function attempt(url: URL, init: ExchangeInit, retried: boolean): Promise<ExchangeAnswer> {
  const transport = transports[url.protocol as keyof typeof transports];
  if (!transport) return Promise.reject(new Error(`unsupported protocol ${url.protocol} in ${url.href} (use http: or https:)`));
  if (init.signal?.aborted) return Promise.reject(abortError(init.signal));
  const body = typeof init.body === "string" ? Buffer.from(init.body) : init.body;
  const headers: Record<string, string | number> = { ...init.headers };
  if (body) headers["content-length"] = body.byteLength;
  return new Promise((resolve, reject) => {
    let settled = false;
    let answered = false;
    const idleMs = init.idleMs ?? IDLE_MS;
    const req = transport.request(url, { method: init.method, headers, agent: transport.agent, timeout: idleMs }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        if (settled) return;
        settled = true;
        init.signal?.removeEventListener("abort", onAbort);
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8"), retryAfter: res.headers["retry-after"] });
      });
      res.on("error", fail);
      res.on("close", () => {
        if (!res.complete) fail(new Error("the connection closed before the whole answer arrived"));
      });
    });
    const onAbort = () => req.destroy(abortError(init.signal!));
    init.signal?.addEventListener("abort", onAbort, { once: true });
    function fail(err: Error): void {
      if (settled) return;
      settled = true;
      init.signal?.removeEventListener("abort", onAbort);
      if (init.signal?.aborted) return reject(abortError(init.signal));
      // A kept connection the server closed just as this request went out: one fresh connection
      // tries again. Only for methods that may be repeated: a server that died while acting on a
      // POST fails it the same way, and a trigger sent twice would be two runs.
      const code = (err as NodeJS.ErrnoException).code;
      const repeatable = REPEATABLE.has(init.method.toUpperCase());
      if (repeatable && !retried && !answered && req.reusedSocket && (code === "ECONNRESET" || code === "EPIPE")) return resolve(attempt(url, init, true));
      reject(err);
    }
    req.on("error", fail);
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url.host}: nothing arrived for ${idleMs < 1000 ? `${idleMs} ms` : `${Math.round(idleMs / 1000)} s`}`)));
    req.end(body);
  });
}
