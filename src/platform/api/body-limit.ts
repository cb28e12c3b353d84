// The request-size limit, checked before the body is read. hono's bodyLimit asks the request for
// its body stream first, and under @hono/node-server that builds a whole web Request around the
// Node request (a ReadableStream and more) for every call, even when the Content-Length header
// settles the question: a visible share of the control plane's time per worker report. The headers
// answer most requests; only a body of unknown length goes through hono's counting reader.
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";

export function requestBodyLimit(maxSize: number, onError: (c: Context) => Response | Promise<Response>): MiddlewareHandler {
  const counted = bodyLimit({ maxSize, onError });
  return async (c, next) => {
    if (c.req.header("transfer-encoding") !== undefined) return counted(c, next);
    const length = c.req.header("content-length");
    // HTTP/1.1: a request with neither header has no body.
    if (length === undefined) return next();
    return Number.parseInt(length, 10) > maxSize ? onError(c) : next();
  };
}
