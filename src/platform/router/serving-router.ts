// The control plane's side of servings: it places each serving on a live worker (recorded in the
// store), proxies `/s/<ws>/<name>/*` to that worker after checking the caller's token, moves
// servings off workers whose heartbeat stopped, and places every serving again after a restart.
// Callers of a serving that has no live worker get a 503 with Retry-After, never a hang.
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import { EventEmitter } from "node:events";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { Context, Hono } from "hono";
import type { z } from "@hono/zod-openapi";
import { NboxError } from "../../errors.ts";
import type { ServingAssignment, WorkerReport } from "../../contract/routes-worker.ts";
import type { PlatformContext } from "../context.ts";
import { proxyFetch, proxyNode, type ProxyFailure } from "../../serving-proxy/proxy.ts";
import type { ServingHost } from "./serving-control.ts";
import type { DeploymentRow, DeploymentVersionRow, WorkerRow } from "../store/schema.ts";
import { passOverUnlessUnavailable } from "../store/unavailable.ts";
import type { WorkerHub } from "../workers/hub.ts";
import { neverSent } from "../../lib/never-sent.ts";

type Assignment = z.output<typeof ServingAssignment>;
type Note = z.output<typeof WorkerReport>["servings"][number];

const LOG_LINES = 200;
// How long deploy() waits for the worker to report the serving healthy (or failed).
const DEPLOY_WAIT_MS = 90_000;
// Servings without a live worker are looked for at this pace (and at once when a worker joins).
const RECONCILE_MS = 2_000;

interface Placement {
  deploymentId: string;
  workspaceId: string;
  workerId: string | null;
}

export class ServingRouter implements ServingHost {
  private readonly placements = new Map<string, Placement>();
  private readonly byPath = new Map<string, string>();
  private readonly logLines = new Map<string, string[]>();
  /**
   * The number of the last note applied from each worker: a report sent again (its answer lost, or
   * applied in part) applies no note twice — request counts, restarts and crash events would double.
   * Kept in memory: a control plane restarted meanwhile may apply one resent report's notes again.
   */
  private readonly lastNote = new Map<string, number>();
  private readonly agents = new Map<string, http.Agent>();
  private readonly status = new EventEmitter();
  private timer: NodeJS.Timeout | undefined;
  private reconciling: Promise<void> | undefined;
  /**
   * Settled once the placements are read back from the store (the first reconcile): until then a
   * worker asking what it hosts would be told nothing, and stop every serving it runs.
   */
  private readonly restored: Promise<void>;
  private markRestored!: () => void;

  constructor(
    private readonly ctx: PlatformContext,
    private readonly hub: WorkerHub,
    app: Hono,
  ) {
    this.status.setMaxListeners(0);
    this.restored = new Promise((r) => (this.markRestored = r));
    const handler = (c: Context) => this.handle(c);
    app.all("/s/:ws/:name", handler).all("/s/:ws/:name/*", handler);
  }

  start(): void {
    const tick = () => {
      void this.reconcile().finally(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, RECONCILE_MS).unref();
      });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.reconciling;
    for (const a of this.agents.values()) a.destroy();
  }

  // ---- ServingHost (used by the API) -------------------------------------------------------

  async deploy(d: DeploymentRow, v: DeploymentVersionRow): Promise<{ url: string; token: string }> {
    const ws = (await this.ctx.store.getWorkspace(d.workspaceId))?.name ?? d.workspaceId;
    const current = await this.ctx.store.getServing(d.id);
    const placed = this.placements.get(d.id)?.workerId;
    const unchanged = current?.status === "ready" && current.versionId === v.id && placed && this.candidates().some((w) => w.id === placed);
    // The same version already running on a live worker: nothing to start.
    const r = unchanged ? { status: "ready", lastError: null } : await this.startOn(d, v, ws);
    if (r.status !== "ready") {
      const [message, ...detail] = (r.lastError ?? `serving ${ws}/${d.name} did not start`).split("\n");
      throw new NboxError("USER_CODE", message!, detail.join("\n") || undefined);
    }
    const t = await this.ctx.store.servingToken(d.id, { name: `serving ${ws}/${d.name}` });
    if (t.revoked.length > 0) this.ctx.lookups.forgetTokens();
    return { url: this.url(ws, d.name), token: t.secret };
  }

  private async startOn(d: DeploymentRow, v: DeploymentVersionRow, ws: string): Promise<{ status: string; lastError: string | null }> {
    const settled = this.waitForStatus(d.id, v.id);
    await this.place(d.id, d.workspaceId, { keep: true, name: `${ws}/${d.name}`, versionId: v.id });
    return settled;
  }

  async endpoint(d: DeploymentRow): Promise<{ url: string }> {
    const ws = (await this.ctx.store.getWorkspace(d.workspaceId))?.name ?? d.workspaceId;
    return { url: this.url(ws, d.name) };
  }

  flush(): Promise<void> {
    return this.ctx.flushRunOutput?.() ?? Promise.resolve();
  }

  logs(deploymentId: string): string[] {
    return [...(this.logLines.get(deploymentId) ?? [])];
  }

  // ---- what workers report and are told ----------------------------------------------------

  /** A worker's notes about the servings it hosts. */
  async apply(workerId: string, notes: Note[]): Promise<void> {
    for (const n of notes) {
      const p = this.placements.get(n.deploymentId);
      // A worker the serving was moved away from may still report for a moment: not its serving any more.
      if (p && p.workerId !== workerId) continue;
      if (n.no !== undefined && n.no <= (this.lastNote.get(workerId) ?? -1)) continue;
      // One note the store fails on is skipped (logged), not the report: the worker would resend it forever.
      await this.applyNote(n).catch((err: unknown) => passOverUnlessUnavailable(err, `the note on serving ${n.deploymentId} from worker ${workerId} could not be applied and was skipped`));
      if (n.no !== undefined) this.lastNote.set(workerId, n.no);
    }
  }

  private async applyNote(n: Note): Promise<void> {
    const { store } = this.ctx;
    if (n.logs?.length) {
      let lines = this.logLines.get(n.deploymentId);
      if (!lines) this.logLines.set(n.deploymentId, (lines = []));
      lines.push(...n.logs);
      if (lines.length > LOG_LINES) lines.splice(0, lines.length - LOG_LINES);
    }
    if (n.requests) await store.incrementRequests(n.deploymentId, n.requests);
    if (n.status) {
      await store.upsertServingStatus({
        deploymentId: n.deploymentId,
        status: n.status,
        ...(n.versionId !== undefined ? { versionId: n.versionId } : {}),
        ...(n.pid !== undefined ? { pid: n.pid } : {}),
        ...(n.lastError !== undefined ? { lastError: n.lastError } : {}),
        incrementRestarts: n.restarted ?? false,
      });
      if (n.status === "ready" || n.status === "crashed") this.status.emit(n.deploymentId, { status: n.status, versionId: n.versionId, lastError: n.lastError ?? null });
    }
    if (n.event) {
      const d = await store.getDeployment(undefined, n.deploymentId);
      if (d) await store.addEvent({ workspaceId: d.workspaceId, deploymentId: d.id, kind: n.event.kind, message: n.event.message, data: n.event.data ?? {} });
    }
  }

  /** The servings placed on worker `workerId`, with what it needs to start them. */
  async assignments(workerId: string): Promise<Assignment[]> {
    await this.restored;
    const out: Assignment[] = [];
    for (const p of this.placements.values()) {
      if (p.workerId !== workerId) continue;
      const a = await this.assignment(p.deploymentId);
      if (a) out.push(a);
    }
    return out;
  }

  /** Workers that stopped beating: their servings go elsewhere now. */
  workersGone(ids: string[]): void {
    const gone = new Set(ids);
    for (const id of ids) this.lastNote.delete(id);
    for (const p of this.placements.values()) if (p.workerId && gone.has(p.workerId)) p.workerId = null;
    void this.reconcile();
  }

  /** Place every serving that has no live worker (after a start, a worker's death, a join). */
  reconcile(): Promise<void> {
    return (this.reconciling ??= (async () => {
      try {
        const live = new Set(this.candidates().map((w) => w.id));
        for (const s of await this.ctx.store.listServings()) {
          const d = await this.ctx.store.getDeployment(undefined, s.deploymentId);
          if (!d || !d.currentVersionId) continue;
          let p = this.placements.get(d.id);
          const restoring = !p;
          if (!p) this.placements.set(d.id, (p = { deploymentId: d.id, workspaceId: d.workspaceId, workerId: s.workerId }));
          if (p.workerId && live.has(p.workerId)) {
            // Read back after a restart on a worker that lives on, not known to be ready: its last
            // note may have been lost with the old control plane. Placed there again (kept), so the
            // worker says how it is, instead of the serving showing starting for good.
            if (restoring && s.status !== "ready") await this.place(d.id, d.workspaceId, { keep: true, name: d.name, versionId: d.currentVersionId });
            continue;
          }
          await this.place(d.id, d.workspaceId, { keep: false, name: d.name, versionId: d.currentVersionId });
        }
        this.markRestored();
      } catch (err) {
        if (this.timer !== undefined) console.error("[nbox servings] placing servings failed:", err);
      } finally {
        this.reconciling = undefined;
      }
    })());
  }

  // ---- placement ---------------------------------------------------------------------------

  private candidates(): WorkerRow[] {
    return this.hub.liveWorkers().filter((w) => w.address);
  }

  /** Put the serving on a live worker (its current one when `keep` and still live) and tell the worker. */
  private async place(deploymentId: string, workspaceId: string, o: { keep: boolean; name: string; versionId: string }): Promise<void> {
    const workers = this.candidates();
    const p = this.placements.get(deploymentId) ?? { deploymentId, workspaceId, workerId: null };
    this.placements.set(deploymentId, p);
    this.assignmentCache.delete(deploymentId);
    const current = o.keep && p.workerId ? workers.find((w) => w.id === p.workerId) : undefined;
    const load = (id: string) => [...this.placements.values()].filter((x) => x.workerId === id).length;
    const chosen = current ?? workers.sort((a, b) => load(a.id) - load(b.id))[0];
    const ws = (await this.ctx.store.getWorkspace(workspaceId))?.name ?? workspaceId;
    const d = await this.ctx.store.getDeployment(undefined, deploymentId);
    const urlPath = `/s/${ws}/${d?.name ?? o.name}/`;
    if (!chosen) {
      p.workerId = null;
      await this.ctx.store.upsertServingStatus({ deploymentId, status: "starting", versionId: o.versionId, workerId: null, urlPath, lastError: "waiting for a live worker to host it" });
      return;
    }
    const moved = p.workerId !== null && p.workerId !== chosen.id;
    const from = p.workerId;
    p.workerId = chosen.id;
    await this.ctx.store.upsertServingStatus({ deploymentId, status: "starting", versionId: o.versionId, workerId: chosen.id, urlPath });
    if (moved && from) this.hub.notify(from, { stop: [deploymentId] });
    this.hub.notify(chosen.id, { servings: true });
  }

  private readonly assignmentCache = new Map<string, Assignment>();

  private async assignment(deploymentId: string): Promise<Assignment | undefined> {
    const hit = this.assignmentCache.get(deploymentId);
    if (hit) return hit;
    const d = await this.ctx.store.getDeployment(undefined, deploymentId);
    if (!d?.currentVersionId) return undefined;
    const v = await this.ctx.store.getVersion(d.currentVersionId);
    if (!v) return undefined;
    const ws = (await this.ctx.store.getWorkspace(d.workspaceId))?.name ?? d.workspaceId;
    const a: Assignment = { deploymentId, versionId: v.id, workspaceId: d.workspaceId, workspace: ws, name: d.name, contentHash: v.contentHash, manifest: v.manifest as Record<string, unknown>, publicUrl: this.url(ws, d.name) };
    this.assignmentCache.set(deploymentId, a);
    return a;
  }

  private waitForStatus(deploymentId: string, versionId: string): Promise<{ status: string; lastError: string | null }> {
    return new Promise((resolve) => {
      const done = (r: { status: string; lastError: string | null }) => {
        clearTimeout(t);
        this.status.off(deploymentId, on);
        resolve(r);
      };
      const on = (r: { status: string; versionId?: string; lastError: string | null }) => (r.versionId === undefined || r.versionId === versionId) && done(r);
      const t = setTimeout(() => done({ status: "timeout", lastError: `serving did not become ready within ${DEPLOY_WAIT_MS / 1000} s (no live worker reported it)` }), DEPLOY_WAIT_MS);
      this.status.on(deploymentId, on);
    });
  }

  private url(ws: string, name: string): string {
    return `${this.ctx.publicUrl}/s/${encodeURIComponent(ws)}/${encodeURIComponent(name)}/`;
  }

  // ---- request path ------------------------------------------------------------------------

  private async resolve(ws: string, name: string): Promise<{ deploymentId: string; workspaceId: string } | undefined> {
    const key = `${ws}/${name}`;
    const hit = this.byPath.get(key);
    if (hit) return this.placements.get(hit) ?? { deploymentId: hit, workspaceId: "" };
    const w = await this.ctx.store.getWorkspaceByName(ws);
    const d = w ? await this.ctx.store.getDeployment(w.id, name) : null;
    if (!d || d.type !== "serving" || !d.currentVersionId) return undefined;
    this.byPath.set(key, d.id);
    return { deploymentId: d.id, workspaceId: d.workspaceId };
  }

  private async handle(c: Context): Promise<Response> {
    const fail = (status: number, name: string, code: string, message: string, retry = false) => c.json({ ok: false, error: { name, code, message } }, status as 400, retry ? { "retry-after": "1" } : {});
    const ws = c.req.param("ws") ?? "";
    const name = c.req.param("name") ?? "";
    // Who is asking comes first: without a valid token nobody learns which servings exist.
    const m = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "");
    if (!m) return fail(401, "NboxError", "UNAUTHORIZED", "missing bearer token; send `Authorization: Bearer <token>` (the serving token from deploy, or a workspace/admin token)");
    const p = await this.ctx.lookups.token(m[1]!);
    if (!p || p.scope === "worker") return fail(401, "NboxError", "UNAUTHORIZED", "invalid or revoked token");
    const s = await this.resolve(ws, name);
    if (!s) return fail(404, "NboxError", "NOT_FOUND", `no serving "${name}" in workspace "${ws}"`);
    const workspaceId = s.workspaceId || (await this.ctx.store.getDeployment(undefined, s.deploymentId))?.workspaceId;
    const allowed = p.scope === "admin" || (p.scope === "workspace" && p.workspaceId === workspaceId) || (p.scope === "serving" && p.servingId === s.deploymentId);
    if (!allowed) return fail(403, "NboxError", "FORBIDDEN", `this token may not call serving ${ws}/${name}`);
    const len = Number(c.req.header("content-length") ?? 0);
    if (len > this.ctx.config.maxBodyBytes) return fail(413, "NboxError", "PAYLOAD_TOO_LARGE", `request body is larger than the limit of ${this.ctx.config.maxBodyBytes} bytes`);

    const placed = this.placements.get(s.deploymentId)?.workerId;
    const worker = placed ? this.hub.liveWorkers().find((w) => w.id === placed) : undefined;
    if (!worker?.address) {
      if (!this.placements.has(s.deploymentId)) void this.reconcile();
      return fail(503, "NboxError", "UNAVAILABLE", `serving ${ws}/${name} has no live worker right now (it is being placed or moved); retry in a moment`, true);
    }
    const env = c.env as { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined;
    const url = new URL(worker.address);
    const up = { address: { host: url.hostname, port: Number(url.port) }, agent: this.agentFor(worker.id), secret: await this.ctx.store.workerProxySecret(worker.id) };
    const options = { maxBodyBytes: this.ctx.config.maxBodyBytes, onUpstreamError: (err: Error) => upstreamFailure(err, `${ws}/${name}`) };
    // hono answers a HEAD with a copy of what the GET handler returned, and its Node adapter writes
    // that copy even when the handler had answered on the socket itself: a HEAD (no body to stream)
    // is answered as a Response.
    if (!env?.incoming || !env.outgoing || c.req.method === "HEAD") {
      const target = new URL(c.req.url);
      return proxyFetch(c.req.raw, up, target.pathname + target.search, options);
    }
    await proxyNode(env.incoming, env.outgoing, up, env.incoming.url ?? "/", options);
    return RESPONSE_ALREADY_SENT;
  }

  private agentFor(workerId: string): http.Agent {
    let a = this.agents.get(workerId);
    if (!a) this.agents.set(workerId, (a = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256, scheduling: "lifo" })));
    return a;
  }
}

/**
 * The answer when the worker hosting a serving fails the proxied request. Not delivered (nothing
 * listens there any more): UNAVAILABLE, which any caller may send again. Cut off once sent (the
 * worker died during the call): WORKER_CRASHED, as when the serving's own process dies — the call
 * may have run, so a client must not repeat a method call on its own.
 */
function upstreamFailure(err: Error, serving: string): ProxyFailure {
  // Never sent: the worker did not get it.
  const notSent = neverSent(err);
  const error = notSent
    ? { name: "NboxError", code: "UNAVAILABLE" as const, message: `the worker hosting serving ${serving} is not reachable (${err.message}); it is being moved — retry in a moment` }
    : { name: "ServingCrashed", code: "WORKER_CRASHED" as const, message: `the worker hosting serving ${serving} stopped answering during the call (${err.message}); it may have run — the serving is being moved` };
  return { status: 503, headers: { "retry-after": "1" }, error };
}
