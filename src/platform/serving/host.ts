// The platform's serving host: one child process per deployed serving, routed at
// `/s/<workspace>/<name>/*` through an authenticating reverse proxy. Crashed children restart
// with backoff (counted in the store, `serving.restarted` event); a new version replaces the
// process once the new one is healthy; spans and request counts are stored per serving.
import type { IncomingMessage, ServerResponse } from "node:http";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { Context, Hono } from "hono";
import { NboxError } from "../../errors.ts";
import { versionDir, type PlatformContext } from "../context.ts";
import { parseManifest, prepareVersion } from "../deployments.ts";
import type { DeploymentRow, DeploymentVersionRow, ServingStatus } from "../store/schema.ts";
import type { SpanInput } from "../store/spans-repo.ts";
import { DEFAULT_CALL_TIMEOUT_MS, DEFAULT_STARTUP_TIMEOUT_MS, type ServingChildConfig } from "./protocol.ts";
import { proxyFetch, proxyNode, type ProxyFailure, type ProxyOptions } from "./proxy.ts";
import { ServingProcess, ServingStartError } from "./serving-process.ts";
import type { ServingHost } from "./types.ts";

/** Host settings, defaults in one place (`??`: 0 is a valid value). */
export interface ServingHostOptions {
  /** Fork → healthy, before deploy() rejects. */
  startupTimeoutMs?: number;
  /** First restart delay after a crash; doubles per consecutive crash. */
  restartBackoffMs?: number;
  maxRestartBackoffMs?: number;
  /** How often spans and request counts are written to the store. */
  flushMs?: number;
  /** Health-ping period; a child silent for longer than its call timeout + 5 s is killed and restarted. */
  watchdogMs?: number;
  /** How long a request waits for a starting/restarting serving before 503. */
  readyWaitMs?: number;
}

const UNRESPONSIVE = "unresponsive";
const STABLE_MS = 30_000;

interface Entry {
  d: DeploymentRow;
  v: DeploymentVersionRow;
  ws: string;
  proc: ServingProcess | undefined;
  status: ServingStatus;
  timeoutMs: number;
  /** Calls waiting for the serving to become ready. */
  waiters: Set<() => void>;
  lock: Promise<unknown>;
  backoffMs: number;
  restartTimer: NodeJS.Timeout | undefined;
  stopped: boolean;
  lastHealthyAt: number;
  pinging: boolean;
  logs: string[];
}

const LOG_LINES = 200;

/**
 * Create the host and mount its proxy route on the platform's root app.
 * @example startPlatform({ port: 0 }, { servings: (ctx, app) => createServingHost(ctx, app) })
 */
export function createServingHost(ctx: PlatformContext, app: Hono, opts: ServingHostOptions = {}): LocalServingHost {
  return new LocalServingHost(ctx, app, opts);
}

export class LocalServingHost implements ServingHost {
  private readonly entries = new Map<string, Entry>();
  private readonly byPath = new Map<string, Entry>();
  private spans: SpanInput[] = [];
  private readonly requests = new Map<string, number>();
  private flushing: Promise<void> = Promise.resolve();
  private flushesQueued = 0;
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;
  private readonly o: Required<ServingHostOptions>;

  constructor(
    private readonly ctx: PlatformContext,
    app: Hono,
    opts: ServingHostOptions = {},
  ) {
    this.o = {
      startupTimeoutMs: opts.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS,
      restartBackoffMs: opts.restartBackoffMs ?? 250,
      maxRestartBackoffMs: opts.maxRestartBackoffMs ?? 10_000,
      flushMs: opts.flushMs ?? 250,
      watchdogMs: opts.watchdogMs ?? 2_000,
      readyWaitMs: opts.readyWaitMs ?? 15_000,
    };
    const handler = (c: Context) => this.handle(c);
    app.all("/s/:ws/:name", handler).all("/s/:ws/:name/*", handler);
    // A slow store: skip ticks while a flush is still running rather than queueing more.
    this.timers.push(setInterval(() => this.flushesQueued === 0 && void this.flush().catch(() => {}), this.o.flushMs));
    this.timers.push(setInterval(() => this.watchdog(), this.o.watchdogMs));
    for (const t of this.timers) t.unref();
  }

  // ---- ServingHost ----------------------------------------------------------------------

  async deploy(d: DeploymentRow, v: DeploymentVersionRow): Promise<{ url: string; token: string }> {
    const e = await this.entryFor(d, v);
    await this.locked(e, async () => {
      if (e.proc?.alive && e.v.id === v.id && e.status === "ready") return; // unchanged version: keep the process
      await this.launch(e, v, "deploy");
    });
    // The serving's one current token: the same across redeploys until it is rotated.
    const t = await this.ctx.store.servingToken(d.id, { name: `serving ${e.ws}/${d.name}` });
    if (t.revoked.length > 0) this.ctx.lookups.forgetTokens();
    return { url: this.url(e.ws, d.name), token: t.secret };
  }

  async endpoint(d: DeploymentRow): Promise<{ url: string }> {
    const ws = this.entries.get(d.id)?.ws ?? (await this.ctx.store.getWorkspace(d.workspaceId))?.name ?? d.workspaceId;
    return { url: this.url(ws, d.name) };
  }

  /** Write buffered spans and request counts now (after any flush already under way). */
  flush(): Promise<void> {
    this.flushesQueued++;
    const run = this.flushing.then(() => this.flushOnce()).finally(() => this.flushesQueued--);
    this.flushing = run.catch(() => {});
    return run;
  }

  private async flushOnce(): Promise<void> {
    const spans = this.spans;
    this.spans = [];
    const counts = [...this.requests];
    this.requests.clear();
    if (spans.length) await this.ctx.store.insertSpans(spans);
    for (const [id, n] of counts) await this.ctx.store.incrementRequests(id, n);
  }

  /** Last log lines of a serving's current process (stdout and stderr). */
  logs(deploymentId: string): string[] {
    return [...(this.entries.get(deploymentId)?.logs ?? [])];
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
    await Promise.all(all.map((e) => e.proc?.kill("platform stopping")));
    await this.flush().catch(() => {});
    for (const e of all) {
      await this.ctx.store.upsertServingStatus({ deploymentId: e.d.id, status: "stopped", pid: null }).catch(() => {});
    }
  }

  // ---- lifecycle ------------------------------------------------------------------------

  private url(ws: string, name: string): string {
    return `${this.ctx.publicUrl}/s/${encodeURIComponent(ws)}/${encodeURIComponent(name)}/`;
  }

  private async entryFor(d: DeploymentRow, v: DeploymentVersionRow): Promise<Entry> {
    let e = this.entries.get(d.id);
    if (e) return e;
    const ws = (await this.ctx.store.getWorkspace(d.workspaceId))?.name ?? d.workspaceId;
    e = this.entries.get(d.id); // another request created it meanwhile
    if (e) return e;
    e = {
      d,
      v,
      ws,
      proc: undefined,
      status: "starting",
      timeoutMs: DEFAULT_CALL_TIMEOUT_MS,
      waiters: new Set(),
      lock: Promise.resolve(),
      backoffMs: this.o.restartBackoffMs,
      restartTimer: undefined,
      stopped: false,
      lastHealthyAt: Date.now(),
      pinging: false,
      logs: [],
    };
    this.entries.set(d.id, e);
    this.byPath.set(`${ws}/${d.name}`, e);
    return e;
  }

  private locked<T>(e: Entry, fn: () => Promise<T>): Promise<T> {
    const run = e.lock.then(fn, fn);
    e.lock = run.catch(() => {});
    return run;
  }

  private childConfig(e: Entry, v: DeploymentVersionRow): ServingChildConfig {
    const m = v.manifest as {
      entry: string;
      export: string;
      kind: ServingChildConfig["kind"];
      init: unknown[];
      state?: ServingChildConfig["state"];
      resource?: { timeoutMs?: number; concurrency?: number };
      options?: { concurrency?: number };
      signature?: Record<string, unknown>;
    };
    return {
      bundleDir: versionDir(this.ctx.paths, v.contentHash),
      entry: m.entry,
      exportName: m.export,
      kind: m.kind,
      init: m.init,
      state: m.state,
      name: e.d.name,
      version: v.id,
      timeoutMs: m.resource?.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
      concurrency: m.options?.concurrency ?? m.resource?.concurrency ?? 1,
      maxBodyBytes: this.ctx.config.maxBodyBytes,
      publicUrl: this.url(e.ws, e.d.name),
      signature: m.signature,
    };
  }

  private async spawn(e: Entry, v: DeploymentVersionRow): Promise<ServingProcess> {
    const launch = await this.ctx.launcher?.forWorkspace(e.d.workspaceId);
    const proc = new ServingProcess(this.childConfig(e, v), {
      onSpans: (spans) => {
        for (const s of spans) this.spans.push({ ...s, servingId: e.d.id, error: s.error ?? null });
      },
      onLog: (stream, line) => {
        e.logs.push(`[${stream}] ${line}`);
        if (e.logs.length > LOG_LINES) e.logs.shift();
      },
    }, launch);
    return proc;
  }

  /** Start `v` in a new process; on success it replaces the current one (which drains, then stops). */
  private async launch(e: Entry, v: DeploymentVersionRow, why: "deploy" | "restart"): Promise<void> {
    if (why === "deploy" && !e.proc?.alive) await this.setStatus(e, "starting", { versionId: v.id });
    const proc = await this.spawn(e, v);
    try {
      await proc.ready(this.o.startupTimeoutMs);
    } catch (err) {
      const tail = err instanceof ServingStartError ? err.tail : proc.tail();
      const remote = err instanceof ServingStartError ? err.remote : undefined;
      const message = (err as Error).message;
      if (!e.proc?.alive) await this.setStatus(e, "crashed", { lastError: `${message}\n${tail}`.trim(), pid: null });
      if (why === "deploy") {
        throw new NboxError("USER_CODE", message, [remote?.stack ? `remote stack:\n${remote.stack}` : "", tail ? `log tail:\n${tail}` : ""].filter(Boolean).join("\n") || undefined);
      }
      throw err;
    }
    const old = e.proc;
    e.proc = proc;
    e.v = v;
    e.timeoutMs = proc.config.timeoutMs;
    e.lastHealthyAt = Date.now();
    this.watch(e, proc);
    await this.setStatus(e, "ready", { versionId: v.id, pid: proc.pid ?? null, lastError: null, incrementRestarts: why === "restart" });
    await this.ctx.store.addEvent({
      workspaceId: e.d.workspaceId,
      deploymentId: e.d.id,
      kind: why === "restart" ? "serving.restarted" : "serving.started",
      message: why === "restart" ? `serving ${e.ws}/${e.d.name} restarted (pid ${proc.pid})` : `serving ${e.ws}/${e.d.name} started (version ${v.id}, pid ${proc.pid})`,
      data: { pid: proc.pid ?? null, versionId: v.id },
    });
    if (old && old !== proc) void drainThenKill(old, `replaced by version ${v.id}`);
  }

  private async setStatus(e: Entry, status: ServingStatus, extra: { versionId?: string; pid?: number | null; lastError?: string | null; incrementRestarts?: boolean } = {}): Promise<void> {
    e.status = status;
    if (status === "ready") {
      const ws = [...e.waiters];
      e.waiters.clear();
      for (const w of ws) w();
    }
    await this.ctx.store.upsertServingStatus({ deploymentId: e.d.id, status, urlPath: `/s/${e.ws}/${e.d.name}/`, ...extra });
  }

  private watch(e: Entry, proc: ServingProcess): void {
    void proc.exited.then(async (x) => {
      if (e.proc !== proc || e.stopped || this.closed) return;
      if (proc.killReason !== undefined && proc.killReason !== UNRESPONSIVE) return;
      const why = proc.killReason === UNRESPONSIVE ? `stopped answering for more than ${e.timeoutMs} ms` : `exited (code ${x.code}${x.signal ? `, signal ${x.signal}` : ""})`;
      const tail = proc.tail();
      if (Date.now() - proc.startedAt > STABLE_MS) e.backoffMs = this.o.restartBackoffMs;
      try {
        await this.setStatus(e, "crashed", { pid: null, lastError: `${why}\n${tail}`.trim() });
        await this.ctx.store.addEvent({ workspaceId: e.d.workspaceId, deploymentId: e.d.id, kind: "serving.crashed", message: `serving ${e.ws}/${e.d.name} ${why}`, data: { code: x.code, signal: x.signal, tail } });
      } catch {
        // The store is closing: the restart below notices `closed`.
      }
      this.scheduleRestart(e);
    });
  }

  private scheduleRestart(e: Entry): void {
    if (e.stopped || this.closed) return;
    const delay = e.backoffMs;
    e.backoffMs = Math.min(e.backoffMs * 2, this.o.maxRestartBackoffMs);
    e.restartTimer = setTimeout(() => {
      void this.locked(e, async () => {
        if (e.stopped || this.closed || e.proc?.alive) return;
        try {
          await this.launch(e, e.v, "restart");
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

  // ---- request path ---------------------------------------------------------------------

  /** The entry for `/s/<ws>/<name>`, loading (not starting) a serving the store knows but this process has not run yet. */
  private async resolve(ws: string, name: string): Promise<Entry | undefined> {
    const hit = this.byPath.get(`${ws}/${name}`);
    if (hit) return hit;
    const w = await this.ctx.store.getWorkspaceByName(ws);
    const d = w ? await this.ctx.store.getDeployment(w.id, name) : null;
    if (!d || d.type !== "serving" || !d.currentVersionId) return undefined;
    const v = await this.ctx.store.getVersion(d.currentVersionId);
    return v ? this.entryFor(d, v) : undefined;
  }

  /** A known serving this platform has not started (e.g. after a platform restart): start it on first use. */
  private ensureStarted(e: Entry): void {
    if (e.proc || e.stopped || this.closed) return;
    void this.locked(e, async () => {
      if (e.proc || e.stopped || this.closed) return;
      await prepareVersion(this.ctx, parseManifest(e.v.manifest));
      await this.launch(e, e.v, "deploy");
    }).catch(() => {
      if (!e.proc) this.scheduleRestart(e);
    });
  }

  private waitReady(e: Entry): Promise<ServingProcess | undefined> {
    if (e.proc?.alive && e.status === "ready") return Promise.resolve(e.proc);
    this.ensureStarted(e);
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

  private async handle(c: Context): Promise<Response> {
    const fail = (status: number, name: string, code: string, message: string) => c.json({ ok: false, error: { name, code, message } }, status as 400);
    const ws = c.req.param("ws") ?? "";
    const name = c.req.param("name") ?? "";
    // Who is asking comes first: without a valid token nobody learns which servings exist.
    const m = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "");
    if (!m) return fail(401, "NboxError", "UNAUTHORIZED", "missing bearer token; send `Authorization: Bearer <token>` (the serving token from deploy, or a workspace/admin token)");
    // The platform's one token cache: a revoke clears it, so the serving URL refuses at once too.
    const p = await this.ctx.lookups.token(m[1]!);
    if (!p) return fail(401, "NboxError", "UNAUTHORIZED", "invalid or revoked token");
    const e = await this.resolve(ws, name);
    if (!e) return fail(404, "NboxError", "NOT_FOUND", `no serving "${name}" in workspace "${ws}"`);
    const allowed = p.scope === "admin" || (p.scope === "workspace" && p.workspaceId === e.d.workspaceId) || (p.scope === "serving" && p.servingId === e.d.id);
    if (!allowed) return fail(403, "NboxError", "FORBIDDEN", `this token may not call serving ${ws}/${name}`);

    const len = Number(c.req.header("content-length") ?? 0);
    if (len > this.ctx.config.maxBodyBytes) return fail(413, "NboxError", "PAYLOAD_TOO_LARGE", `request body is larger than the limit of ${this.ctx.config.maxBodyBytes} bytes`);

    const proc = await this.waitReady(e);
    if (!proc) return fail(503, "NboxError", "UNAVAILABLE", `serving ${ws}/${name} is not running (status ${e.status})`);
    this.requests.set(e.d.id, (this.requests.get(e.d.id) ?? 0) + 1);

    const opts: ProxyOptions = { maxBodyBytes: this.ctx.config.maxBodyBytes, onUpstreamError: (err) => this.upstreamFailure(e, proc, err) };
    const up = { address: proc.address, agent: proc.agent, secret: proc.secret };
    const env = c.env as { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined;
    proc.inflight++;
    try {
      if (env?.incoming && env.outgoing) {
        await proxyNode(env.incoming, env.outgoing, up, downstreamPath(env.incoming.url ?? "/"), opts);
        return RESPONSE_ALREADY_SENT;
      }
      const u = new URL(c.req.url);
      return await proxyFetch(c.req.raw, up, downstreamPath(u.pathname + u.search), opts);
    } finally {
      proc.inflight--;
    }
  }

  private upstreamFailure(e: Entry, proc: ServingProcess, err: Error): ProxyFailure {
    if (proc.killReason === UNRESPONSIVE) {
      return { status: 504, error: { name: "TimeoutError", code: "TIMEOUT", message: `serving ${e.ws}/${e.d.name} stopped answering for more than ${e.timeoutMs} ms (a call blocked its event loop); it is being restarted` } };
    }
    const why = proc.exitInfo ? `exited (code ${proc.exitInfo.code})` : `dropped the connection (${err.message})`;
    return { status: 503, error: { name: "ServingCrashed", code: "WORKER_CRASHED", message: `serving ${e.ws}/${e.d.name} ${why} while handling this request; it is being restarted` } };
  }
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
  while (proc.inflight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  await proc.kill(reason);
}
