import { ERROR_STATUS, NboxError, type ErrorCode } from "../errors.ts";
import { discoverPlatform, type Connection } from "./discovery.ts";

export interface ClientOptions extends Partial<Connection> {
  cwd?: string;
}

const CODE_BY_STATUS: Record<number, ErrorCode> = Object.fromEntries(
  Object.entries(ERROR_STATUS).map(([code, status]) => [status, code as ErrorCode]).reverse(),
);

/** Thin JSON-over-HTTP client for the platform API (`/api/v1`); every failure is an NboxError. */
export class PlatformClient {
  readonly url: string;
  readonly token: string;
  constructor(conn: Connection) {
    this.url = conn.url;
    this.token = conn.token;
  }

  async request<T>(method: string, path: string, body?: unknown, init: { headers?: Record<string, string>; signal?: AbortSignal; raw?: Uint8Array } = {}): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, ...init.headers };
    let payload: string | Uint8Array | undefined;
    if (init.raw) {
      payload = init.raw;
      headers["content-type"] ??= "application/octet-stream";
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers["content-type"] = "application/json";
    }
    let res: Response;
    try {
      res = await fetch(`${this.url}/api/v1${path}`, { method, headers, body: payload, signal: init.signal });
    } catch (err) {
      if ((err as Error).name === "AbortError") throw err;
      throw new NboxError("UNAVAILABLE", `cannot reach the nbox platform at ${this.url} (${(err as Error).message})`, "Is `nbx up` running? Check NBOX_URL", { cause: err });
    }
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const e = json?.error;
      const code = (e?.code as ErrorCode) ?? CODE_BY_STATUS[res.status] ?? "INTERNAL";
      throw new NboxError(code, e?.message ?? `${method} ${path} failed with HTTP ${res.status}: ${text.slice(0, 200)}`);
    }
    return json as T;
  }
}

/**
 * Platform client: defaults from NBOX_URL/NBOX_TOKEN, else the local `nbx up`.
 * @example const client = connect(); await client.request("GET", "/workspaces")
 */
export function connect(opts: ClientOptions = {}): PlatformClient {
  return new PlatformClient(discoverPlatform(opts));
}
