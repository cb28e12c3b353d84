// One serving seen from the worker: a child runtime in serving mode holding the instance, and the
// serving's HTTP app in this process, where every operation on the instance is one IPC call into
// the child. The worker's listener hands the app its requests directly (no socket, no second
// HTTP exchange between the two). Keeps a log tail for error reports.
import type { ChildProcess } from "node:child_process";
import type { IncomingMessage, ServerResponse } from "node:http";
import { finished } from "node:stream/promises";
import { getRequestListener } from "@hono/node-server";
import { fromWire } from "../../codec/index.ts";
import type { OperatorLocator } from "../../operator/locate.ts";
import type { RecordedSignature } from "../../schema/types.ts";
import type { Span } from "../../trace/span.ts";
import { RuntimeProcess, type ExitInfo } from "../runtime/runtime-process.ts";
import type { SurfaceInfo } from "../runtime/surface.ts";
import type { RuntimeLaunch } from "../spawn-runtime.ts";
import { createServingApp, type ServingApp } from "./app.ts";
import type { ServingChildConfig } from "./config.ts";
import { ServingError, type WireError } from "./wire.ts";

const TAIL_LINES = 40;
/** The reason the serving host kills a child whose event loop stopped answering. */
export const UNRESPONSIVE = "unresponsive";

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
  readonly startedAt = Date.now();
  /** Requests in flight (a replaced process drains before it is stopped). */
  inflight = 0;
  /** Why the platform killed it (undefined = it died on its own). */
  killReason: string | undefined;
  exitInfo: ExitInfo | undefined;
  readonly exited: Promise<ExitInfo>;
  private readonly tailLines: string[] = [];
  /** The serving's app, once the instance is loaded. */
  private app: ServingApp | undefined;
  private listener: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;

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
      // Calls still in flight, and any that come now, answer with crashError.
      this.exitInfo = info;
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

  /** Resolves once the instance is built and the app answers its health route; rejects with the startup error and log tail. */
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
      this.open(loaded.surface!);
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
  async request(method: string, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
    if (!this.app) throw new Error(`serving ${this.config.name} is not loaded`);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)));
    try {
      const res = await Promise.race([this.app.request(path, { method }), late]);
      return { status: res.status, body: await res.text() };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Answer one request for this serving (its URL already the serving's own path); resolves once the exchange is over. */
  async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.listener) throw new Error(`serving ${this.config.name} is not loaded`);
    this.inflight++;
    try {
      // Over once the app is done with it and the response is finished (or its caller went away):
      // a process being replaced is stopped only after the calls it is answering.
      await Promise.all([this.listener(req, res), finished(res).catch(() => {})]);
    } finally {
      this.inflight--;
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process is gone. */
  kill(reason: string, graceMs = 1000): Promise<unknown> {
    this.killReason ??= reason;
    return this.runtime.kill(reason, graceMs);
  }

  /** Build the app; only this worker's listener reaches it (there is no socket to connect to). */
  private open(surface: SurfaceInfo): void {
    const c = this.config;
    this.app = createServingApp({
      runtime: this.runtime,
      surface,
      meta: { name: c.name, kind: c.kind, version: c.version },
      maxBodyBytes: c.maxBodyBytes,
      publicUrl: c.publicUrl,
      crashError: (wire) => this.crashError(wire),
    });
    this.listener = getRequestListener(this.app.fetch);
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
