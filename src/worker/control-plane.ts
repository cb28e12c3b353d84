// The worker's only line to the control plane: its HTTP API, with a worker token. Transient
// failures (the control plane restarting, a network blip) are retried where the call is safe to
// repeat; the caller decides for the rest.
import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { NboxError } from "../errors.ts";
import type { ApiArgs, ApiOutput, RouteKey } from "../remote/api-types.ts";
import { PlatformClient } from "../remote/client.ts";
import { sleep } from "../lib/pause.ts";

type WorkerRoute = Extract<RouteKey, `${string} /worker/${string}`>;

const MAX_RETRY_MS = 2_000;
// Failures in a row before a persisted call says so (~3 s of backoff).
const PERSIST_SAY_AFTER = 5;

export class ControlPlane {
  private readonly client: PlatformClient;

  constructor(
    readonly url: string,
    private readonly token: string,
  ) {
    this.client = new PlatformClient({ url, token });
  }

  call<K extends WorkerRoute>(route: K, ...input: ApiArgs<K>): Promise<ApiOutput<K>> {
    return this.client.call(route, ...input);
  }

  /**
   * `call`, retried with backoff while the control plane is unreachable or answers 5xx, until
   * `signal` aborts. For calls that may be repeated (heartbeats, reports guarded by worker id).
   */
  persist<K extends WorkerRoute>(route: K, signal: AbortSignal | undefined, ...input: ApiArgs<K>): Promise<ApiOutput<K>> {
    return this.persistEach(route, signal, () => input);
  }

  /** `persist` with its input made again for each try: what it says may have changed while it waited. */
  async persistEach<K extends WorkerRoute>(route: K, signal: AbortSignal | undefined, input: () => ApiArgs<K>): Promise<ApiOutput<K>> {
    let delay = 100;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.client.call(route, ...input());
      } catch (err) {
        if (!isTransient(err) || signal?.aborted) throw err;
        // Said once per call, after a few seconds: an internal error names a reference to find in the control plane's log.
        if (attempt === PERSIST_SAY_AFTER) console.error(`[nbox worker] ${route} keeps failing (${(err as Error).message}); trying again every ${MAX_RETRY_MS / 1000} s`);
        await sleep(delay);
        delay = Math.min(delay * 2, MAX_RETRY_MS);
      }
    }
  }

  /** Stream bundle `hash` into `file`. */
  async download(hash: string, file: string): Promise<void> {
    const res = await fetch(`${this.url}/api/v1/worker/bundles/${hash}`, { headers: { authorization: `Bearer ${this.token}` } });
    if (!res.ok || !res.body) throw new NboxError(res.status === 404 ? "NOT_FOUND" : "UNAVAILABLE", `downloading bundle ${hash} failed with HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
    await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), createWriteStream(file, { mode: 0o600 }));
  }
}

/** Worth trying again: the control plane is down or restarting, not refusing. */
export function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  const status = (err as { status?: unknown }).status;
  return code === "UNAVAILABLE" || code === "INTERNAL" || (typeof status === "number" && status >= 500);
}
