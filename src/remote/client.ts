import { ERROR_STATUS, isErrorCode, NboxError, type ErrorCode } from "../errors.ts";
import type { ApiArgs, ApiInput, ApiOutput, RouteKey } from "./api-types.ts";
import { platformRuntime, renewRuntimeToken } from "../runtime-context.ts";
import { discoverPlatform, type Connection } from "./discovery.ts";
import { httpExchange, type ExchangeAnswer } from "./http-exchange.ts";
import { RemoteError, type WireErrorBody } from "./remote-error.ts";
import { readRetryAfter } from "./unavailable-retry.ts";

export interface ClientOptions extends Partial<Connection> {
  cwd?: string;
}

/** The workspace an admin token's calls go to when they name none. */
export const DEFAULT_WORKSPACE = "default";

/** Each token's own workspace (or DEFAULT_WORKSPACE), by platform URL and token, as the platform answered. */
const defaultWorkspaces = new Map<string, Promise<string>>();
const MAX_KEPT_WORKSPACES = 64;

const CODE_BY_STATUS: Record<number, ErrorCode> = Object.fromEntries(
  Object.entries(ERROR_STATUS).map(([code, status]) => [status, code as ErrorCode]).reverse(),
);

/** Transport options of one exchange. */
export interface SendInit {
  headers?: Record<string, string> | undefined;
  signal?: AbortSignal | undefined;
  raw?: Uint8Array | undefined;
}

/** `/runs/{id}` with `{ id: "r 1" }` → `/runs/r%201`, plus the query string of the defined values. */
function concretePath(template: string, params: Record<string, unknown> = {}, query: Record<string, unknown> = {}): string {
  const path = template.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(String(params[name])));
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
  const qs = q.toString();
  return qs ? `${path}?${qs}` : path;
}

/**
 * Client for the platform API (`/api/v1`), typed by the API's route declarations: `call(route, input)`
 * takes the route's declared params, query and body and answers its declared success body. Every
 * failure is an NboxError; a coded API answer is rebuilt as the SDK's typed class for its code
 * (NotFoundError, UnauthorizedError, … or RemoteError), as serving and run errors are.
 */
export class PlatformClient {
  readonly url: string;
  #token: string;
  /** The token is the one the platform injected into this job or serving process: it follows NBOX_TOKEN. */
  readonly #injected: boolean;
  constructor(conn: Connection & { injected?: boolean }) {
    this.url = conn.url;
    this.#token = conn.token;
    this.#injected = conn.injected === true;
  }

  /**
   * Where calls that name no workspace go: the token's own workspace for a workspace token, else
   * "default". Asked of the platform once per platform and token (a token's workspace never changes).
   */
  defaultWorkspace(): Promise<string> {
    const key = `${this.url}\n${this.token}`;
    let answer = defaultWorkspaces.get(key);
    if (!answer) {
      if (defaultWorkspaces.size >= MAX_KEPT_WORKSPACES) defaultWorkspaces.clear(); // tokens come and go: stay bounded
      answer = this.call("GET /whoami").then((me) => me.workspace?.name ?? DEFAULT_WORKSPACE);
      // A failed question is asked again next time.
      answer.catch(() => defaultWorkspaces.delete(key));
      defaultWorkspaces.set(key, answer);
    }
    return answer;
  }

  get token(): string {
    return this.#injected ? (process.env.NBOX_TOKEN ?? this.#token) : this.#token;
  }

  /** @example const { run } = await client.call("GET /runs/{id}", { params: { id } }) */
  async call<K extends RouteKey>(route: K, ...[input]: ApiArgs<K>): Promise<ApiOutput<K>> {
    const i = (input ?? {}) as ApiInput<RouteKey> & { params?: Record<string, unknown>; query?: Record<string, unknown>; body?: unknown; raw?: Uint8Array };
    const space = route.indexOf(" ");
    const path = concretePath(route.slice(space + 1), i.params, i.query);
    // The declarations are the contract the server validates against: the answer has their shape.
    return (await this.send(route.slice(0, space), path, i.body, { headers: i.headers, signal: i.signal, raw: i.raw })) as ApiOutput<K>;
  }

  /** One HTTP exchange: JSON (or raw bytes) out, the parsed JSON answer back, failures as NboxError. */
  protected async send(method: string, path: string, body?: unknown, init: SendInit = {}): Promise<unknown> {
    const token = this.token;
    try {
      return await this.sendWith(token, method, path, body, init);
    } catch (err) {
      // The injected token was revoked: the worker gets this process the workspace's token now, and
      // the request goes once more (a 401 is answered before anything was done).
      if (!this.#injected || (err as NboxError).code !== "UNAUTHORIZED") throw err;
      let fresh: string | undefined;
      try {
        fresh = await renewRuntimeToken(token);
      } catch (why) {
        throw new NboxError("UNAUTHORIZED", `${(err as Error).message}; no new token could be had: ${(why as Error).message}`, undefined, { cause: err });
      }
      if (fresh === undefined || fresh === token) throw err;
      return this.sendWith(fresh, method, path, body, init);
    }
  }

  private async sendWith(token: string, method: string, path: string, body: unknown, init: SendInit): Promise<unknown> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...init.headers };
    let payload: string | Uint8Array | undefined;
    if (init.raw) {
      payload = init.raw;
      headers["content-type"] ??= "application/octet-stream";
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers["content-type"] = "application/json";
    }
    let res: ExchangeAnswer;
    try {
      res = await httpExchange(`${this.url}/api/v1${path}`, { method, headers, body: payload, signal: init.signal });
    } catch (err) {
      if ((err as Error).name === "AbortError") throw err;
      throw new NboxError("UNAVAILABLE", `cannot reach the nbox platform at ${this.url} (${(err as Error).message})`, "Is `nbx up` running? Check NBOX_URL", { cause: err });
    }
    const text = res.text;
    const ok = res.status >= 200 && res.status < 300;
    let json: { error?: WireErrorBody } | undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!ok) {
      const e = json?.error;
      // `instanceof NotFoundError` holds for a missing deployment as for a missing serving method.
      if (isErrorCode(e?.code)) throw RemoteError.from(e, { status: res.status, retryAfterMs: readRetryAfter(res.retryAfter) });
      const code = CODE_BY_STATUS[res.status] ?? "INTERNAL";
      throw new NboxError(code, e?.message ?? `${method} ${path} failed with HTTP ${res.status}: ${text.slice(0, 200)}`);
    }
    return json;
  }
}

/**
 * Platform client: defaults from NBOX_URL/NBOX_TOKEN, else the local `nbx up`.
 * @example const client = connect(); await client.call("GET /workspaces")
 */
export function connect(opts: ClientOptions = {}): PlatformClient {
  const conn = discoverPlatform(opts);
  // In a job or serving, a token taken from the environment is the platform's to renew.
  return new PlatformClient({ ...conn, injected: opts.token === undefined && platformRuntime() !== undefined && conn.token === process.env.NBOX_TOKEN });
}
