import { fromWire, toWire } from "../codec/index.ts";
import { NboxError } from "../errors.ts";
import { neverSent } from "../lib/never-sent.ts";
import { getTracer } from "../trace/tracer.ts";
import { sleep } from "../lib/pause.ts";
import { httpExchange, type ExchangeAnswer } from "./http-exchange.ts";
import { NotFoundError, RemoteError, type WireErrorBody } from "./remote-error.ts";
import type { DeploymentInfo } from "./types.ts";
import type { RemoteServing, WhoAreYou } from "./serving-types.ts";
import { checkRetryBudget, retryWaitMs } from "./unavailable-retry.ts";

export type { RemoteServing, WhoAreYou } from "./serving-types.ts";

interface Wire {
  ok: boolean;
  value?: unknown;
  error?: WireErrorBody;
}

/** The tagged codec's media type: the SDK asks for it so Dates, Maps, BigInts, … come back as they were. */
const TAGGED_JSON = "application/vnd.nbox+json";

export interface ServingClientOptions {
  /**
   * How long a call keeps asking while the serving is unavailable — being placed, moved to another
   * worker or restarted (503 UNAVAILABLE, never delivered) — waiting as its Retry-After says.
   * Default 30 000 ms; 0 answers the first 503 with an error.
   */
  retryUnavailableMs?: number;
}

export class ServingClient {
  private readonly retryUnavailableMs: number;

  constructor(
    readonly url: string,
    readonly token: string,
    opts: ServingClientOptions = {},
  ) {
    this.retryUnavailableMs = checkRetryBudget(opts.retryUnavailableMs);
  }

  private headers(withBody: boolean): Record<string, string> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: TAGGED_JSON };
    const tp = getTracer().traceparent();
    if (tp) headers.traceparent = tp;
    if (withBody) headers["content-type"] = TAGGED_JSON;
    return headers;
  }

  async send(method: string, path: string, body?: unknown): Promise<unknown> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const retry = this.retries();
    for (;;) {
      let res: ExchangeAnswer;
      try {
        res = await httpExchange(this.url + path, { method, headers: this.headers(body !== undefined), body: payload });
        this.reached = true;
      } catch (err) {
        if (await this.unreachableAgain(err, retry, method)) continue;
        throw new NboxError("UNAVAILABLE", `cannot reach serving ${this.url} (${(err as Error).message})${retry.triedFor()}`, undefined, { cause: err });
      }
      const text = res.text;
      let json: Wire | undefined;
      try {
        json = JSON.parse(text) as Wire;
      } catch {
        const ok = res.status >= 200 && res.status < 300;
        throw RemoteError.from({ message: `${method} ${this.url}${path} answered HTTP ${res.status} with non-JSON: ${text.slice(0, 120)}` }, { status: ok ? 502 : res.status });
      }
      if (json.ok) return fromWire(json.value);
      if (await retry(res.status, json.error, method, res.retryAfter)) continue;
      throw RemoteError.from(retry.describe(json.error), { status: res.status });
    }
  }

  /**
   * One call's retries of unavailable answers: `await retry(...)` waits and says true while the
   * answer may be asked again within the budget; `describe` adds how long it kept asking.
   */
  private retries() {
    const started = performance.now();
    let tries = 1;
    const retry = async (status: number, error: WireErrorBody | undefined, method: string, retryAfter: string | undefined): Promise<boolean> => {
      const wait = retryWaitMs(status, error?.code, method, retryAfter);
      if (wait === undefined || performance.now() - started + wait > this.retryUnavailableMs) return false;
      await sleep(wait);
      tries++;
      return true;
    };
    const triedFor = () => (tries > 1 ? ` (still so after ${tries} tries over ${((performance.now() - started) / 1000).toFixed(1)} s)` : "");
    const describe = (error: WireErrorBody | undefined): WireErrorBody | undefined => (error && tries > 1 ? { ...error, message: `${error.message ?? "unavailable"}${triedFor()}` } : error);
    return Object.assign(retry, { describe, triedFor });
  }

  /**
   * A serving this client reached before refuses connections now (its control plane is restarting):
   * the request never left, so it is asked again like a 503 UNAVAILABLE. A serving never reached
   * fails at once — most likely a wrong URL, which waiting would only hide.
   */
  private async unreachableAgain(err: unknown, retry: ReturnType<ServingClient["retries"]>, method: string): Promise<boolean> {
    return this.reached && neverSent(err) && (await retry(503, { code: "UNAVAILABLE", message: (err as Error).message }, method, undefined));
  }

  /** An answer came from this serving's URL once: a refused connection later is a restart, not a wrong URL. */
  private reached = false;

  call(name: string, args: unknown[]): Promise<unknown> {
    const path = name === "forward" ? "forward" : `call/${encodeURIComponent(name)}`;
    return this.send("POST", path, { args: toWire(args, { path: "args" }) });
  }

  /** Stream an (async) generator method: newline-delimited JSON, cancelled when the consumer stops. */
  async *stream(name: string, args: unknown[]): AsyncGenerator<unknown> {
    const ctrl = new AbortController();
    const body = JSON.stringify({ args: toWire(args, { path: "args" }) });
    const retry = this.retries();
    let res: Response;
    for (;;) {
      try {
        res = await fetch(`${this.url}stream/${encodeURIComponent(name)}`, { method: "POST", headers: this.headers(true), body, signal: ctrl.signal });
        this.reached = true;
      } catch (err) {
        if (await this.unreachableAgain(err, retry, "POST")) continue;
        throw new NboxError("UNAVAILABLE", `cannot reach serving ${this.url} (${(err as Error).message})${retry.triedFor()}`, undefined, { cause: err });
      }
      if (res.ok && res.body) break;
      const text = await res.text();
      let e: Wire["error"];
      try {
        e = (JSON.parse(text) as Wire).error;
      } catch {}
      if (await retry(res.status, e, "POST", res.headers.get("retry-after") ?? undefined)) continue;
      throw RemoteError.from(retry.describe(e) ?? { message: text || `HTTP ${res.status}` }, { status: res.status });
    }
    const decoder = new TextDecoder();
    let buf = "";
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const msg = JSON.parse(line) as Wire & { done?: boolean };
          if (!msg.ok) throw RemoteError.from(msg.error ?? { message: "stream failed" });
          if (msg.done) return;
          yield fromWire(msg.value);
        }
      }
    } finally {
      ctrl.abort(); // consumer stopped early (break/return): cancel the server-side generator
    }
  }
}

// Function.prototype members a callable handle keeps, unless the served class has a method of that name.
const FUNCTION_MEMBERS = new Set(["call", "apply", "bind"]);

/**
 * The untyped seam: a Proxy that turns property access into serving calls (typed by a cast).
 * Calling the handle itself calls `forward`. Field reads always ask the serving: the live
 * instance decides what it has (getters, a Proxy answering unknown names).
 */
export function servingProxy<T>(client: ServingClient, schema?: WhoAreYou, known?: { methods: ReadonlySet<string>; streams: ReadonlySet<string> }): RemoteServing<T> {
  const isMethod = (name: string) => (schema ? name in schema.methods : !!known?.methods.has(name));
  // The class a 404 from the serving would be: a caller catches one NotFoundError, checked here or there.
  const notFound = (message: string) => new NotFoundError({ code: "NOT_FOUND", name: "NotFoundError", message });
  const methodList = () => Object.keys(schema!.methods).join(", ") || "none";
  const noMethod = (key: string) => notFound(`${schema!.name} has no method "${key}". Known methods: ${methodList()}`);
  const forward = (args: unknown[]) =>
    schema && schema.forward === null
      ? Promise.reject(notFound(`${schema.name} has no forward(), so the handle cannot be called. Call its methods: ${methodList()}`))
      : client.call("forward", args);
  // An arrow function as the target: callable, and no non-configurable own properties to pin the traps.
  const target = (() => {}) as unknown as RemoteServing<T>;
  return new Proxy(target, {
    apply: (_t, _this, args: unknown[]) => forward(args),
    get(t, key) {
      if (typeof key !== "string" || key === "then") return undefined; // keeps `await proxy` from recursing
      if (key === "$url") return client.url;
      if (key === "$token") return client.token;
      if (key === "$set") return (k: string, v: unknown) => client.send("PUT", `attr/${encodeURIComponent(k)}`, { value: toWire(v, { path: "value" }) }).then(() => undefined);
      if (key === "$whoAreYou") return () => client.send("GET", "who_are_you");
      if (FUNCTION_MEMBERS.has(key) && !isMethod(key)) return Reflect.get(t, key);
      const streaming = schema?.methods[key]?.kind === "asyncGenerator" || schema?.methods[key]?.kind === "generator" || !!known?.streams.has(key);
      const call = (...args: unknown[]) => {
        if (key === "forward") return forward(args);
        if (schema && !isMethod(key)) return Promise.reject(noMethod(key));
        if (!streaming) return client.call(key, args);
        const it = client.stream(key, args);
        // Awaiting a stream call collects every item; `for await` consumes it lazily.
        return Object.assign(it, {
          then: (ok: (v: unknown[]) => unknown, no: (e: unknown) => unknown) => collect(client.stream(key, args)).then(ok, no),
        });
      };
      const read = () => client.send("GET", `attr/${encodeURIComponent(key)}`);
      return Object.assign(call, { then: (ok: any, no: any) => read().then(ok, no) });
    },
  });
}

async function collect(it: AsyncIterable<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Handle returned by `deploy()` for a serving. */
export function remoteServing<T>(deployment: DeploymentInfo): RemoteServing<T> {
  if (!deployment.servingUrl || !deployment.servingToken) {
    throw new NboxError("INTERNAL", `deployment ${deployment.name} is a serving but the platform returned no URL/token`);
  }
  // The deploy-time signature names the methods and which are generators (streamed); fields are read live.
  const methods = (deployment.signature?.methods ?? {}) as Record<string, { kind?: string }>;
  const streams = new Set(Object.keys(methods).filter((k) => methods[k]?.kind === "generator" || methods[k]?.kind === "asyncGenerator"));
  return servingProxy<T>(new ServingClient(deployment.servingUrl, deployment.servingToken), undefined, { methods: new Set(Object.keys(methods)), streams });
}

/**
 * Latch onto a serving by URL and token; checks `/who_are_you` first and fails clearly on a wrong URL or token.
 * @example const bar = await fromServing<Bar>(url, token); await bar.inc(); await bar.x
 */
export async function fromServing<T>(url: string, token: string, opts: ServingClientOptions = {}): Promise<RemoteServing<T>> {
  const base = url.endsWith("/") ? url : url + "/";
  const client = new ServingClient(base, token, opts);
  let who: WhoAreYou;
  try {
    who = (await client.send("GET", "who_are_you")) as WhoAreYou;
  } catch (err) {
    const why = (err as Error).message;
    throw new NboxError((err as NboxError).code ?? "UNAVAILABLE", `fromServing(${base}): ${why}`, "Check the URL (nbx servings) and the token", { cause: err });
  }
  return servingProxy<T>(client, who);
}
