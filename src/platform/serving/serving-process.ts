// One serving child process seen from the platform: fork it in the bundle folder, wait until it
// listens and answers its health route, keep a log tail for error reports, and kill it.
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { spawnRuntime, type RuntimeLaunch } from "../../worker/spawn-runtime.ts";
import type { Span } from "../../trace/span.ts";
import { LineSplitter, MAX_LINE_CHARS } from "../executor/line-splitter.ts";
import { CONFIG_FILE_ENV, CONFIG_FILE_NAME, SECRET_ENV, SECRET_HEADER, isChildMessage, type ServingChildConfig } from "./protocol.ts";
import type { UpstreamAddress } from "./proxy.ts";
import type { WireError } from "./wire.ts";

const RUNTIME_MAIN = fileURLToPath(new URL("./runtime-main.mjs", import.meta.url));
const TAIL_LINES = 40;
const PIPE_DRAIN_MS = 200;
/** Unix socket paths longer than this do not fit `sun_path`; the child then listens on loopback TCP. */
const MAX_SOCKET_PATH = 100;

/**
 * Where one child listens: in its scratch folder, which is private to it and visible both inside
 * its sandbox and outside. A named pipe on Windows.
 */
function socketPathFor(scratchDir: string): string | undefined {
  if (process.platform === "win32") return `\\\\.\\pipe\\nbox-${process.pid}-${randomBytes(6).toString("hex")}.sock`;
  const p = path.join(scratchDir, "serving.sock");
  return p.length <= MAX_SOCKET_PATH ? p : undefined;
}

/** The child's config as a private file in its scratch folder (no size limit, unlike one env string). */
function writeConfig(scratchDir: string, config: ServingChildConfig): string {
  const file = path.join(scratchDir, CONFIG_FILE_NAME);
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  return file;
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
  readonly child: ChildProcess;
  readonly secret = randomBytes(24).toString("base64url");
  // One socket per concurrent proxied call, kept open between calls (free sockets are reused LIFO).
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256, keepAliveMsecs: 30_000, scheduling: "lifo" });
  readonly startedAt = Date.now();
  /** Where the child listens (known once ready). */
  address: UpstreamAddress = { host: "127.0.0.1", port: 0 };
  /** Proxied requests in flight (a replaced process drains before it is stopped). */
  inflight = 0;
  /** Why the platform killed it (undefined = it died on its own). */
  killReason: string | undefined;
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly tailLines: string[] = [];

  constructor(
    readonly config: ServingChildConfig,
    private readonly events: ServingProcessEvents,
    launch?: RuntimeLaunch,
  ) {
    // The user's module is imported again in here: marked as a runtime, deploy()/process pools at its top level refuse.
    this.child = spawnRuntime({
      script: RUNTIME_MAIN,
      runtime: "serving",
      bundleDir: config.bundleDir,
      env: (scratch) => ({ [CONFIG_FILE_ENV]: writeConfig(scratch.dir, { ...config, socketPath: socketPathFor(scratch.dir) }), [SECRET_ENV]: this.secret }),
      launch,
    }).child;
    for (const name of ["stdout", "stderr"] as const) {
      const split = new LineSplitter((line) => this.onLine(name, line), MAX_LINE_CHARS);
      const s = this.child[name]!;
      s.setEncoding("utf8");
      s.on("data", (chunk: string) => split.push(chunk));
      s.on("end", () => split.end());
    }
    this.child.on("message", (m: unknown) => {
      if (isChildMessage(m) && m.type === "spans") this.events.onSpans(m.spans);
    });
    this.exited = new Promise((resolve) => {
      // "exit", then a short wait for the pipes: a grandchild (tsx's esbuild service) may hold them open.
      this.child.once("exit", (code, signal) => {
        const pipes = [this.child.stdout!, this.child.stderr!].map((p) => (p.closed ? undefined : new Promise((r) => p.once("close", r))));
        const drained = Promise.race([Promise.all(pipes), new Promise((r) => setTimeout(r, PIPE_DRAIN_MS))]);
        void drained.then(() => {
          this.child.stdout!.destroy();
          this.child.stderr!.destroy();
          resolve((this.exitInfo = { code, signal }));
        });
      });
      this.child.once("error", (err) => {
        this.onLine("stderr", `fork failed: ${err.message}`);
        if (this.child.pid === undefined) resolve((this.exitInfo = { code: null, signal: null }));
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.exitInfo === undefined && this.killReason === undefined;
  }

  /** Last stdout/stderr lines. */
  tail(): string {
    return this.tailLines.join("\n");
  }

  /** Resolves once the child listens and its health route answers; rejects with the startup error and log tail. */
  async ready(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      this.address = await new Promise<UpstreamAddress>((resolve, reject) => {
        const fail = (msg: string, remote?: WireError) => reject(new ServingStartError(msg, remote, this.tail()));
        timer = setTimeout(() => fail(`serving ${this.config.name} was not ready within ${timeoutMs} ms`), timeoutMs);
        this.child.on("message", (m: unknown) => {
          if (!isChildMessage(m)) return;
          if (m.type === "ready") resolve(m.address);
          else if (m.type === "load-failed") fail(`serving ${this.config.name} failed to start: ${m.error.name}: ${m.error.message}`, m.error);
        });
        void this.exited.then((e) => {
          // Let a load-failed message that raced the exit win; then report the exit.
          setTimeout(() => fail(`serving ${this.config.name} exited during startup (code ${e.code}, signal ${e.signal})`), 20);
        });
      });
      const health = await this.request("GET", "/", Math.max(1000, Math.min(timeoutMs, 10_000)));
      if (health.status !== 200) throw new ServingStartError(`serving ${this.config.name} health check answered HTTP ${health.status}`, undefined, this.tail());
    } catch (err) {
      void this.kill("startup failed");
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A small request to the child (health checks); resolves with status and body text. */
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
    if (this.exitInfo === undefined) {
      if (this.child.connected) this.child.disconnect();
      this.child.kill("SIGTERM");
      const t = setTimeout(() => this.exitInfo === undefined && this.child.kill("SIGKILL"), graceMs);
      t.unref();
      void this.exited.then(() => clearTimeout(t));
    }
    return this.exited;
  }

  private onLine(stream: "stdout" | "stderr", line: string): void {
    this.tailLines.push(line);
    if (this.tailLines.length > TAIL_LINES) this.tailLines.shift();
    this.events.onLog(stream, line);
  }
}
