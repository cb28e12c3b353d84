// The two kinds of Redis connection the BullMQ queue uses. The control plane answers HTTP requests,
// so its calls must fail fast with a clear error while Redis is away; workers run in the background,
// so their connection waits for Redis to come back. Both reconnect forever on their own.
import { Redis, type RedisOptions } from "ioredis";
import { NboxError } from "../errors.ts";
import { redactUrl } from "../lib/redact-url.ts";

/** `redis://user:secret@host:6379/0` → `redis://user:***@host:6379/0`, for messages and logs. */
export const redactRedisUrl = (url: string): string => redactUrl(url, "Redis URL");

/** Redis cannot be reached (down, refused, timed out): code UNAVAILABLE (HTTP 503). */
export class RedisUnavailableError extends NboxError {
  override name = "RedisUnavailableError";
  /** The Redis URL, password redacted. */
  readonly url: string;
  constructor(
    url: string,
    /** Why, as the connection said it. */
    readonly reason: string,
    cause?: unknown,
  ) {
    const shown = redactRedisUrl(url);
    super("UNAVAILABLE", `Redis at ${shown} is unreachable (${reason}); the run queue cannot be used`, "Start Redis or check the --redis URL; the queue reconnects on its own", { cause });
    this.url = shown;
  }
}

/** Reconnect delay: quick first tries, then at most every `capMs`; never gives up. */
const reconnectForever = (capMs: number) => (times: number) => Math.min(100 * 2 ** Math.min(times, 10), capMs);

/** Timeouts of the control plane's connection. */
export interface FailFastTimeouts {
  /** Longest wait for a TCP connection (and for the first one at start-up). Default 2000. */
  connectTimeoutMs?: number;
  /** Longest wait for one command's reply before it fails. Default 5000. */
  commandTimeoutMs?: number;
}

/**
 * The control plane's connection: no offline queue (a call while disconnected fails at once
 * instead of waiting), an in-flight command is retried across at most one reconnect, and every
 * command has a reply deadline. Use with {@link FailFastGate}.
 */
export function failFastRedis(url: string, t: FailFastTimeouts = {}): Redis {
  const options: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: t.connectTimeoutMs ?? 2000,
    commandTimeout: t.commandTimeoutMs ?? 5000,
    retryStrategy: reconnectForever(2000),
    connectionName: "nbx:control-plane",
  };
  return new Redis(url, options);
}

/**
 * A worker's connection: commands wait while Redis is away (BullMQ requires
 * `maxRetriesPerRequest: null` for workers) and go out once it is back.
 */
export function patientRedis(url: string, connectionName = "nbx:worker"): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableOfflineQueue: true, connectTimeout: 5000, retryStrategy: reconnectForever(5000), connectionName });
}

const CONNECTION_TROUBLE = /Connection is closed|Stream isn't writeable|enableOfflineQueue|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|Command timed out|max retries per request|MaxRetriesPerRequest|connect ETIMEDOUT/i;

/** True for errors that mean "Redis is not reachable" rather than "Redis refused this command". */
export function isRedisConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return err.name === "MaxRetriesPerRequestError" || CONNECTION_TROUBLE.test(err.message) || CONNECTION_TROUBLE.test(String((err as { code?: unknown }).code ?? ""));
}

/**
 * Runs control-plane calls against a {@link failFastRedis} client: a call first checks the
 * connection (waiting at most the connect timeout, and only while the first connection is being
 * made), then any connection failure is reported as a {@link RedisUnavailableError} naming the URL.
 */
export class FailFastGate {
  private lastError: Error | null = null;
  private everReady = false;

  constructor(
    readonly client: Redis,
    private readonly url: string,
    private readonly connectTimeoutMs = 2000,
  ) {
    client.on("error", (err: Error) => {
      this.lastError = err;
    });
    client.on("ready", () => {
      this.everReady = true;
      this.lastError = null;
    });
  }

  /** Resolves when the client can take commands; otherwise throws {@link RedisUnavailableError}. */
  async ready(): Promise<void> {
    const c = this.client;
    if (c.status === "ready") return;
    if (c.status === "end" || c.status === "close") throw this.unavailable("the connection was closed");
    // Only the first connection is worth waiting for; once Redis has been lost, answer at once.
    if (this.everReady || this.lastError) throw this.unavailable(this.lastError?.message ?? `connection ${c.status}`);
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        c.off("ready", onReady);
        c.off("error", onError);
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => done();
      const onError = (err: Error) => done(this.unavailable(err.message, err));
      const timer = setTimeout(() => done(this.unavailable(`no connection within ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
      c.on("ready", onReady);
      c.on("error", onError);
    });
  }

  /** `fn` after {@link ready}, with connection failures turned into {@link RedisUnavailableError}. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.ready();
    try {
      return await fn();
    } catch (err) {
      if (err instanceof RedisUnavailableError) throw err;
      if (isRedisConnectionError(err) || this.client.status !== "ready") throw this.unavailable((err as Error).message, err);
      throw err;
    }
  }

  private unavailable(reason: string, cause?: unknown): RedisUnavailableError {
    return new RedisUnavailableError(this.url, reason, cause ?? this.lastError ?? undefined);
  }
}
