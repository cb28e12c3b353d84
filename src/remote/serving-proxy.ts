import { fromWire, toWire } from "../codec/index.ts";
import { NboxError } from "../errors.ts";
import { getTracer } from "../trace/tracer.ts";
import { httpExchange, type ExchangeAnswer } from "./http-exchange.ts";
import { RemoteError, type WireErrorBody } from "./remote-error.ts";
import type { DeploymentInfo } from "./types.ts";
import type { RemoteServing, WhoAreYou } from "./serving-types.ts";

export type { RemoteServing, WhoAreYou } from "./serving-types.ts";

interface Wire {
  ok: boolean;
  value?: unknown;
  error?: WireErrorBody;
}

/** The tagged codec's media type: the SDK asks for it so Dates, Maps, BigInts, … come back as they were. */
const TAGGED_JSON = "application/vnd.nbox+json";

export class ServingClient {
  constructor(
    readonly url: string,
    readonly token: string,
  ) {}

  private headers(withBody: boolean): Record<string, string> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: TAGGED_JSON };
    const tp = getTracer().traceparent();
    if (tp) headers.traceparent = tp;
    if (withBody) headers["content-type"] = TAGGED_JSON;
    return headers;
  }

  async send(method: string, path: string, body?: unknown): Promise<unknown> {
    let res: ExchangeAnswer;
    try {
      res = await httpExchange(this.url + path, { method, headers: this.headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new NboxError("UNAVAILABLE", `cannot reach serving ${this.url} (${(err as Error).message})`, undefined, { cause: err });
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
    throw RemoteError.from(json.error, { status: res.status });
  }

  call(name: string, args: unknown[]): Promise<unknown> {
    const path = name === "forward" ? "forward" : `call/${encodeURIComponent(name)}`;
    return this.send("POST", path, { args: toWire(args, { path: "args" }) });
  }

  /** Stream an (async) generator method: newline-delimited JSON, cancelled when the consumer stops. */
  async *stream(name: string, args: unknown[]): AsyncGenerator<unknown> {
    const ctrl = new AbortController();
    const res = await fetch(`${this.url}stream/${encodeURIComponent(name)}`, {
      method: "POST",
      headers: this.headers(true),
      body: JSON.stringify({ args: toWire(args, { path: "args" }) }),
      signal: ctrl.signal,
    });
    if (!res.ok || !res.body) {
      const text = await res.text();
      let e: Wire["error"];
      try {
        e = (JSON.parse(text) as Wire).error;
      } catch {}
      throw RemoteError.from(e ?? { message: text || `HTTP ${res.status}` }, { status: res.status });
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
  const noMethod = (key: string) =>
    new NboxError("NOT_FOUND", `${schema!.name} has no method "${key}"`, `Known methods: ${Object.keys(schema!.methods).join(", ") || "none"}`);
  const forward = (args: unknown[]) =>
    schema && schema.forward === null
      ? Promise.reject(new NboxError("NOT_FOUND", `${schema.name} has no forward(), so the handle cannot be called`, `Call its methods: ${Object.keys(schema.methods).join(", ") || "none"}`))
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
export async function fromServing<T>(url: string, token: string): Promise<RemoteServing<T>> {
  const base = url.endsWith("/") ? url : url + "/";
  const client = new ServingClient(base, token);
  let who: WhoAreYou;
  try {
    who = (await client.send("GET", "who_are_you")) as WhoAreYou;
  } catch (err) {
    const why = (err as Error).message;
    throw new NboxError((err as NboxError).code ?? "UNAVAILABLE", `fromServing(${base}): ${why}`, "Check the URL (nbx servings) and the token", { cause: err });
  }
  return servingProxy<T>(client, who);
}
