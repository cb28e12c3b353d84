// One serving seen from the platform: a child runtime in serving mode holding the instance, and
// the serving's HTTP app in this process on a unix socket (the proxy's upstream), where every
// operation on the instance is one IPC call into the child. Keeps a log tail for error reports.
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { createAdaptorServer } from "@hono/node-server";
import { fromWire } from "../../codec/index.ts";
import type { OperatorLocator } from "../../operator/locate.ts";
import type { RecordedSignature } from "../../schema/types.ts";
import type { Span } from "../../trace/span.ts";
import type { UpstreamAddress } from "../../serving-proxy/proxy.ts";
import { RuntimeProcess, type ExitInfo } from "../runtime/runtime-process.ts";
import type { SurfaceInfo } from "../runtime/surface.ts";
import type { RuntimeLaunch } from "../spawn-runtime.ts";
import { createServingApp } from "./app.ts";
import { SECRET_HEADER } from "../../serving-proxy/proxy-headers.ts";
import type { ServingChildConfig } from "./config.ts";
import { ServingError, type WireError } from "./wire.ts";

const TAIL_LINES = 40;
/** Unix socket paths longer than this do not fit `sun_path`; the app then listens on loopback TCP. */
const MAX_SOCKET_PATH = 100;
/** The reason the serving host kills a child whose event loop stopped answering. */
const UNRESPONSIVE = "unresponsive";

/**
 * Where the app listens: in the child's scratch folder, private to this serving and removed with
 * it. A named pipe on Windows.
 */
function socketPathFor(scratchDir: string): string | undefined {
  if (process.platform === "win32") return `\\\\.\\pipe\\nbox-${process.pid}-${randomBytes(6).toString("hex")}.sock`;
  const p = path.join(scratchDir, "serving.sock");
  return p.length <= MAX_SOCKET_PATH ? p : undefined;
}

export class ServingStartError extends Error {
  override name = "ServingStartError";
  constructor(
    message: string,
    readonly remote: WireError | undefined,
    readonly tail: string,
  ) {
    super(message);
  }
}

export interface ServingProcessEvents {
  onSpans(spans: Span[]): void;
  onLog(stream: "stdout" | "stderr", line: string): void;
}

export class ServingProcess {
  readonly runtime: RuntimeProcess;
  readonly secret = randomBytes(24).toString("base64url");
  // One socket per concurrent proxied call, kept open between calls (free sockets are reused LIFO).
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256, keepAliveMsecs: 30_000, scheduling: "lifo" });
  readonly startedAt = Date.now();
  /** Where the app listens (known once ready). */
  address: UpstreamAddress = { host: "127.0.0.1", port: 0 };
  /** Proxied requests in flight (a replaced process drains before it is stopped). */
  inflight = 0;
  /** Why the platform killed it (undefined = it died on its own). */
  killReason: string | undefined;
  exitInfo: ExitInfo | undefined;
  readonly exited: Promise<ExitInfo>;
  private readonly tailLines: string[] = [];
  private server: http.Server | undefined;

  constructor(
    readonly config: ServingChildConfig,
    private readonly events: ServingProcessEvents,
    launch?: RuntimeLaunch,
  ) {
    const locator: OperatorLocator = { file: config.entry, exportName: config.exportName, kind: config.kind, init: config.init, ...(config.state ? { state: config.state } : {}) };
    // The user's module is imported again in there: marked as a runtime, deploy()/process pools at its top level refuse.
    this.runtime = new RuntimeProcess({
      mode: "serving",
      bundleDir: config.bundleDir,
      locator,
      name: config.name,
      signature: config.signature as RecordedSignature | undefined,
      concurrency: config.concurrency,
      timeoutMs: config.timeoutMs,
      launch,
    });
    this.runtime.onLog = (stream, line) => this.onLine(stream, line);
    this.runtime.onSpans = (spans) => this.events.onSpans(spans);
    this.exited = this.runtime.exited.then((info) => {
      this.exitInfo = info;
      this.agent.destroy();
      // Answers of failed calls still go out; new connections are refused (the proxy answers 503).
      this.server?.close();
      return info;
    });
  }

  get child(): ChildProcess {
    return this.runtime.child;
  }

  get pid(): number | undefined {
    return this.runtime.child.pid;
  }

  get alive(): boolean {
    return this.exitInfo === undefined && this.killReason === undefined;
  }

  /** Last stdout/stderr lines. */
  tail(): string {
    return this.tailLines.join("\n");
  }

  /** Resolves once the instance is built and the app listens and answers its health route; rejects with the startup error and log tail. */
  async ready(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const name = this.config.name;
    try {
      const loaded = await Promise.race([this.runtime.loaded, new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeoutMs)))]);
      if (loaded === "timeout") throw new ServingStartError(`serving ${name} was not ready within ${timeoutMs} ms`, undefined, this.tail());
      if (!loaded.ok && loaded.reason === "crash") {
        const e = this.exitInfo ?? this.runtime.exitInfo;
        throw new ServingStartError(`serving ${name} exited during startup (code ${e?.code ?? null}, signal ${e?.signal ?? null})`, undefined, this.tail());
      }
      if (!loaded.ok) {
        const remote = remoteError(loaded.error);
        throw new ServingStartError(`serving ${name} failed to start: ${remote.name}: ${remote.message}`, remote, this.tail());
      }
      this.address = await this.listen(loaded.surface!);
      const health = await this.request("GET", "/", Math.max(1000, Math.min(timeoutMs, 10_000)));
      if (health.status !== 200) throw new ServingStartError(`serving ${name} health check answered HTTP ${health.status}`, undefined, this.tail());
    } catch (err) {
      void this.kill("startup failed");
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A small request to the app (health checks); resolves with status and body text. */
  request(method: string, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ ...this.address, method, path, agent: this.agent, headers: { [SECRET_HEADER]: this.secret }, timeout: timeoutMs }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on("error", reject);
      req.end();
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process is gone. */
  kill(reason: string, graceMs = 1000): Promise<unknown> {
    this.killReason ??= reason;
    this.agent.destroy();
    return this.runtime.kill(reason, graceMs);
  }

  /** Serve the app on a unix socket (loopback TCP if that fails). */
  private listen(surface: SurfaceInfo): Promise<UpstreamAddress> {
    const c = this.config;
    const app = createServingApp({
      runtime: this.runtime,
      surface,
      meta: { name: c.name, kind: c.kind, version: c.version },
      maxBodyBytes: c.maxBodyBytes,
      secret: this.secret,
      publicUrl: c.publicUrl,
      crashError: (wire) => this.crashError(wire),
    });
    const server = createAdaptorServer({ fetch: app.fetch }) as http.Server;
    this.server = server;
    // Keep-alive sockets from the platform stay open between calls.
    server.keepAliveTimeout = 60_000;
    return new Promise<UpstreamAddress>((resolve, reject) => {
      const listenTcp = () => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve({ host: "127.0.0.1", port: (server.address() as AddressInfo).port }));
      };
      const socketPath = socketPathFor(this.runtime.scratch.dir);
      if (!socketPath) return listenTcp();
      // A unix socket: no TCP stack between proxy and app, and only this user may connect.
      server.once("error", listenTcp);
      server.listen(socketPath, () => {
        server.off("error", listenTcp);
        if (process.platform !== "win32") chmodSync(socketPath, 0o600);
        resolve({ socketPath });
      });
    });
  }

  /** What a call answers when the child died under it. */
  private crashError(wire: unknown): ServingError {
    const where = servingLabel(this.config);
    if (this.killReason === UNRESPONSIVE) {
      return new ServingError("TIMEOUT", `serving ${where} stopped answering for more than ${this.config.timeoutMs} ms (a call blocked its event loop); it is being restarted`, "TimeoutError");
    }
    const code = (fromWire(wire) as { exitCode?: number | null }).exitCode ?? null;
    return new ServingError("WORKER_CRASHED", `serving ${where} exited (code ${code}) while handling this request; it is being restarted`, "ServingCrashed");
  }

  private onLine(stream: "stdout" | "stderr", line: string): void {
    this.tailLines.push(line);
    if (this.tailLines.length > TAIL_LINES) this.tailLines.shift();
    this.events.onLog(stream, line);
  }
}

function remoteError(wire: unknown): WireError {
  try {
    const e = fromWire(wire);
    if (e instanceof Error) return { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
    return { name: "NonError", message: `non-Error thrown: ${String(e)}` };
  } catch {
    return { name: "Error", message: "unreadable error" };
  }
}

/** `<workspace>/<name>` from the serving's public URL (`…/s/<ws>/<name>/`), as the proxy names it. */
function servingLabel(c: ServingChildConfig): string {
  try {
    const parts = new URL(c.publicUrl).pathname.split("/").filter(Boolean);
    const s = parts.lastIndexOf("s");
    if (s >= 0 && parts.length >= s + 3) return `${decodeURIComponent(parts[s + 1]!)}/${decodeURIComponent(parts[s + 2]!)}`;
  } catch {
    // not a URL: the name alone
  }
  return c.name;
}
