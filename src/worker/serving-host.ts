// The servings placed on this worker: one child process per serving, restarted with backoff when
// it crashes, replaced by a new version once that one is healthy, killed and restarted when it stops
// answering. The control plane reaches them through this worker's listener (`/s/<ws>/<name>/*`,
// with the worker's proxy secret); status changes, crash events, request counts, log lines and
// spans go back in the worker's reports.
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { timingSafeEqual } from "node:crypto";
import type { z } from "@hono/zod-openapi";
import type { ServingAssignment } from "../contract/routes-worker.ts";
import { SECRET_HEADER } from "../serving-proxy/proxy-headers.ts";
import { DEFAULT_CALL_TIMEOUT_MS, DEFAULT_STARTUP_TIMEOUT_MS, type ServingChildConfig } from "./serving/config.ts";
import { ServingProcess, ServingStartError, UNRESPONSIVE } from "./serving/serving-process.ts";
import type { ServingStatus } from "../contract/vocabulary.ts";
import type { BundleManifest } from "../bundle/index.ts";
import type { RuntimeLauncher } from "./launcher.ts";
import type { ReportBatcher } from "./report-batcher.ts";
import type { Versions } from "./versions.ts";
import { sleep } from "../lib/pause.ts";

type Assignment = z.output<typeof ServingAssignment>;

export interface ServingHostOptions {
  startupTimeoutMs?: number;
  restartBackoffMs?: number;
  maxRestartBackoffMs?: number;
  /** Health-ping period; a child silent for longer than its call timeout + 5 s is killed and restarted. */
  watchdogMs?: number;
  /** How long a request waits for a starting/restarting serving before 503. */
  readyWaitMs?: number;
  maxBodyBytes: number;
}

const STABLE_MS = 30_000;
const REQUEST_FLUSH_MS = 250;

interface Entry {
  a: Assignment;
  proc: ServingProcess | undefined;
  status: ServingStatus;
  timeoutMs: number;
  waiters: Set<() => void>;
  lock: Promise<unknown>;
  backoffMs: number;
  restartTimer: NodeJS.Timeout | undefined;
  stopped: boolean;
  lastHealthyAt: number;
  pinging: boolean;
}

export class ServingHost {
  private readonly entries = new Map<string, Entry>();
  private readonly byPath = new Map<string, Entry>();
  private readonly requests = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  private server: http.Server | undefined;
  private closed = false;
  private readonly o: Required<ServingHostOptions>;
  /** Set once the control plane told it (at registration); until then every request is refused. */
  proxySecret = "";
  /** The control plane's body limit (told at registration). */
  set maxBodyBytes(n: number) {
    this.o.maxBodyBytes = n;
  }

  constructor(
    private readonly deps: { launcher: RuntimeLauncher; versions: Versions; output: ReportBatcher },
    opts: ServingHostOptions,
  ) {
    this.o = {
      startupTimeoutMs: opts.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS,
      restartBackoffMs: opts.restartBackoffMs ?? 250,
      maxRestartBackoffMs: opts.maxRestartBackoffMs ?? 10_000,
      watchdogMs: opts.watchdogMs ?? 2_000,
      readyWaitMs: opts.readyWaitMs ?? 15_000,
      maxBodyBytes: opts.maxBodyBytes,
    };
    this.timers.push(setInterval(() => this.flushRequests(), REQUEST_FLUSH_MS));
    this.timers.push(setInterval(() => this.watchdog(), this.o.watchdogMs));
    for (const t of this.timers) t.unref();
  }

  /** Listen for the control plane's proxied requests; resolves with the address to register. */
  async listen(host: string, port: number): Promise<string> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 60_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    const a = server.address() as AddressInfo;
    return `http://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`;
  }

  /**
   * Host exactly these servings (start new ones and new versions, stop the rest). `placed`: the
   * control plane has just placed them here (and recorded each as starting): one already running
   * that version says it is ready again, or its deploy would wait for a note that never comes.
   */
  reconcile(list: Assignment[], o: { placed?: boolean } = {}): void {
    const wanted = new Set(list.map((a) => a.deploymentId));
    for (const a of list) {
      const e = this.entryFor(a);
      if (o.placed && e.a.versionId === a.versionId && e.proc) {
        void this.locked(e, async () => {
          const proc = e.proc;
          if (!e.stopped && !this.closed && proc?.alive && e.a.versionId === a.versionId && e.status === "ready") this.setStatus(e, "ready", { versionId: a.versionId, pid: proc.pid ?? null, lastError: null });
        });
      }
      if (e.a.versionId !== a.versionId || !e.proc) {
        void this.locked(e, async () => {
          if (e.stopped || this.closed) return;
          if (e.proc?.alive && e.a.versionId === a.versionId && e.status === "ready") return;
          try {
            await this.launch(e, a, "deploy");
          } catch {
            if (!e.proc) this.scheduleRestart(e);
          }
        });
      }
    }
    for (const id of [...this.entries.keys()]) if (!wanted.has(id)) void this.stop(id);
  }

  hosted(): string[] {
    return [...this.entries.keys()];
  }

  /** Version folders the live serving processes run from (kept out of the cache's eviction). */
  versionDirsInUse(): string[] {
    return [...this.entries.values()].flatMap((e) => (e.proc?.alive ? [e.proc.config.bundleDir] : []));
  }

  /** Stop hosting a serving (placed elsewhere or undeployed). */
  async stop(deploymentId: string): Promise<void> {
    const e = this.entries.get(deploymentId);
    if (!e) return;
    e.stopped = true;
    clearTimeout(e.restartTimer);
    this.entries.delete(deploymentId);
    this.byPath.delete(pathKey(e.a.workspace, e.a.name));
    for (const w of e.waiters) w();
    await e.proc?.kill("moved or undeployed");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    const all = [...this.entries.values()];
    for (const e of all) {
      e.stopped = true;
      clearTimeout(e.restartTimer);
      for (const w of e.waiters) w();
    }
    await Promise.all(all.map((e) => e.proc?.kill("worker stopping")));
    this.flushRequests();
    for (const e of all) this.deps.output.serving({ deploymentId: e.a.deploymentId, status: "stopped", pid: null });
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server?.closeAllConnections();
  }

  // ---- lifecycle ------------------------------------------------------------------------

  private entryFor(a: Assignment): Entry {
    let e = this.entries.get(a.deploymentId);
    if (e) return e;
    e = { a, proc: undefined, status: "starting", timeoutMs: DEFAULT_CALL_TIMEOUT_MS, waiters: new Set(), lock: Promise.resolve(), backoffMs: this.o.restartBackoffMs, restartTimer: undefined, stopped: false, lastHealthyAt: Date.now(), pinging: false };
    this.entries.set(a.deploymentId, e);
    this.byPath.set(pathKey(a.workspace, a.name), e);
    return e;
  }

  private locked<T>(e: Entry, fn: () => Promise<T>): Promise<T> {
    const run = e.lock.then(fn, fn);
    e.lock = run.catch(() => {});
    return run;
  }

  private childConfig(a: Assignment, bundleDir: string): ServingChildConfig {
    const m = a.manifest as unknown as BundleManifest & { resource?: { timeoutMs?: number; concurrency?: number }; options?: { concurrency?: number }; signature?: Record<string, unknown>; state?: ServingChildConfig["state"] };
    return {
      bundleDir,
      entry: m.entry,
      exportName: m.export,
      kind: m.kind as ServingChildConfig["kind"],
      init: m.init,
      state: m.state,
      name: a.name,
      version: a.versionId,
      timeoutMs: m.resource?.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
      concurrency: m.options?.concurrency ?? m.resource?.concurrency ?? 1,
      maxBodyBytes: this.o.maxBodyBytes,
      publicUrl: a.publicUrl,
      signature: m.signature,
    };
  }

  /** Start `a`'s version in a new process; on success it replaces the current one (which drains, then stops). */
  private async launch(e: Entry, a: Assignment, why: "deploy" | "restart"): Promise<void> {
    const { output } = this.deps;
    const id = a.deploymentId;
    if (why === "deploy" && !e.proc?.alive) this.setStatus(e, "starting", { versionId: a.versionId });
    let proc: ServingProcess;
    try {
      const bundleDir = await this.deps.versions.prepare(await this.deps.versions.manifest(a.versionId));
      const launch = await this.deps.launcher.forWorkspace(a.workspaceId);
      proc = new ServingProcess(this.childConfig(a, bundleDir), {
        onSpans: (spans) => {
          for (const s of spans) output.span({ servingId: id }, s);
        },
        onLog: (stream, line) => output.serving({ deploymentId: id, logs: [`[${stream}] ${line}`] }),
      }, launch);
    } catch (err) {
      if (!e.proc?.alive) this.setStatus(e, "crashed", { versionId: a.versionId, lastError: `preparing the serving failed: ${(err as Error).message}`, pid: null });
      throw err;
    }
    try {
      await proc.ready(this.o.startupTimeoutMs);
    } catch (err) {
      const tail = err instanceof ServingStartError ? err.tail : proc.tail();
      const remote = err instanceof ServingStartError ? err.remote : undefined;
      const detail = [remote?.stack ? `remote stack:\n${remote.stack}` : "", tail ? `log tail:\n${tail}` : ""].filter(Boolean).join("\n");
      if (!e.proc?.alive) this.setStatus(e, "crashed", { versionId: a.versionId, lastError: `${(err as Error).message}\n${detail}`.trim(), pid: null });
      throw err;
    }
    const old = e.proc;
    e.proc = proc;
    e.a = a;
    e.timeoutMs = proc.config.timeoutMs;
    e.lastHealthyAt = Date.now();
    this.watch(e, proc);
    // The event first: it travels in the same report as the status, so whoever sees `ready` sees it too.
    output.serving({
      deploymentId: id,
      event: {
        kind: why === "restart" ? "serving.restarted" : "serving.started",
        message: why === "restart" ? `serving ${a.workspace}/${a.name} restarted (pid ${proc.pid})` : `serving ${a.workspace}/${a.name} started (version ${a.versionId}, pid ${proc.pid})`,
        data: { pid: proc.pid ?? null, versionId: a.versionId },
      },
    });
    this.setStatus(e, "ready", { versionId: a.versionId, pid: proc.pid ?? null, lastError: null, restarted: why === "restart" });
    if (old && old !== proc) void drainThenKill(old, `replaced by version ${a.versionId}`);
  }

  private setStatus(e: Entry, status: ServingStatus, extra: { versionId?: string; pid?: number | null; lastError?: string | null; restarted?: boolean } = {}): void {
    e.status = status;
    if (status === "ready") {
      const ws = [...e.waiters];
      e.waiters.clear();
      for (const w of ws) w();
    }
    this.deps.output.serving({ deploymentId: e.a.deploymentId, status, ...extra });
    void this.deps.output.flush();
  }

  private watch(e: Entry, proc: ServingProcess): void {
    void proc.exited.then((x) => {
      if (e.proc !== proc || e.stopped || this.closed) return;
      if (proc.killReason !== undefined && proc.killReason !== UNRESPONSIVE) return;
      const why = proc.killReason === UNRESPONSIVE ? `stopped answering for more than ${e.timeoutMs} ms` : `exited (code ${x.code}${x.signal ? `, signal ${x.signal}` : ""})`;
      const tail = proc.tail();
      if (Date.now() - proc.startedAt > STABLE_MS) e.backoffMs = this.o.restartBackoffMs;
      this.deps.output.serving({ deploymentId: e.a.deploymentId, event: { kind: "serving.crashed", message: `serving ${e.a.workspace}/${e.a.name} ${why}`, data: { code: x.code, signal: x.signal, tail } } });
      this.setStatus(e, "crashed", { pid: null, lastError: `${why}\n${tail}`.trim() });
      this.scheduleRestart(e);
    });
  }

  private scheduleRestart(e: Entry): void {
    if (e.stopped || this.closed) return;
    const delay = e.backoffMs;
    e.backoffMs = Math.min(e.backoffMs * 2, this.o.maxRestartBackoffMs);
    clearTimeout(e.restartTimer);
    e.restartTimer = setTimeout(() => {
      void this.locked(e, async () => {
        if (e.stopped || this.closed || e.proc?.alive) return;
        try {
          await this.launch(e, e.a, "restart");
        } catch {
          this.scheduleRestart(e);
        }
      });
    }, delay);
    e.restartTimer.unref();
  }

  /** Kill children that stopped answering health pings (a call blocking the event loop) so they restart. */
  private watchdog(): void {
    for (const e of this.entries.values()) {
      const proc = e.proc;
      if (!proc?.alive || e.status !== "ready" || e.pinging) continue;
      e.pinging = true;
      proc
        .request("GET", "/", this.o.watchdogMs)
        .then(
          () => void (e.lastHealthyAt = Date.now()),
          () => {
            if (e.timeoutMs > 0 && proc === e.proc && Date.now() - e.lastHealthyAt > e.timeoutMs + 5_000) void proc.kill(UNRESPONSIVE, 200);
          },
        )
        .finally(() => (e.pinging = false));
    }
  }

  private flushRequests(): void {
    for (const [deploymentId, n] of this.requests) this.deps.output.serving({ deploymentId, requests: n });
    this.requests.clear();
  }

  // ---- request path ---------------------------------------------------------------------

  private waitReady(e: Entry): Promise<ServingProcess | undefined> {
    if (e.proc?.alive && e.status === "ready") return Promise.resolve(e.proc);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        e.waiters.delete(done);
        resolve(e.proc?.alive && e.status === "ready" ? e.proc : undefined);
      };
      const t = setTimeout(done, this.o.readyWaitMs);
      e.waiters.add(done);
    });
  }

  /** A request the control plane proxied here (it did the auth): `/s/<ws>/<name>/<rest>`. */
  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const fail = (status: number, name: string, code: string, message: string) => {
      const body = JSON.stringify({ ok: false, error: { name, code, message } });
      res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body), ...(status === 503 ? { "retry-after": "1" } : {}) });
      res.end(body);
    };
    if (!this.proxySecret || !sameSecret(req.headers[SECRET_HEADER], this.proxySecret)) return fail(403, "NboxError", "FORBIDDEN", "requests reach a worker's servings only through the control plane");
    const parts = (req.url ?? "/").split("?")[0]!.split("/"); // ["", "s", ws, name, ...]
    const e = parts[1] === "s" ? this.byPath.get(pathKey(decodeURIComponent(parts[2] ?? ""), decodeURIComponent(parts[3] ?? ""))) : undefined;
    if (!e) return fail(503, "NboxError", "UNAVAILABLE", `this worker does not host ${parts.slice(2, 4).join("/")} (it is being moved); retry`);
    const proc = await this.waitReady(e);
    if (!proc) return fail(503, "NboxError", "UNAVAILABLE", `serving ${e.a.workspace}/${e.a.name} is not running (status ${e.status}); retry shortly`);
    this.requests.set(e.a.deploymentId, (this.requests.get(e.a.deploymentId) ?? 0) + 1);
    // The serving's app answers in this process: it sees the request at the serving's own path.
    req.url = downstreamPath(req.url ?? "/");
    await proc.serve(req, res);
  }
}

const pathKey = (ws: string, name: string) => `${ws}/${name}`;

function sameSecret(a: string | string[] | undefined, b: string): boolean {
  if (typeof a !== "string") return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `/s/<ws>/<name>/rest?q` → `/rest?q` (raw, still percent-encoded: the child decodes). */
export function downstreamPath(raw: string): string {
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const parts = path.split("/"); // ["", "s", ws, name, ...rest]
  return "/" + parts.slice(4).join("/") + (q < 0 ? "" : raw.slice(q));
}

async function drainThenKill(proc: ServingProcess, reason: string, maxMs = 5_000): Promise<void> {
  proc.killReason ??= reason; // no restart when it exits
  const until = Date.now() + maxMs;
  while (proc.inflight > 0 && Date.now() < until) await sleep(50);
  await proc.kill(reason);
}
