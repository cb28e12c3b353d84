import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Server as HttpServer } from "node:http";
import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import { ADMIN_TOKEN_FILE, PLATFORM_FILE, type PlatformInfo } from "../remote/discovery.ts";
import { mountDashboard } from "../dashboard/index.ts";
import { createApi, notFound } from "./api/app.ts";
import { resolveConfig, type PlatformConfig } from "./config.ts";
import { platformPaths, type PlatformContext } from "./context.ts";
import { RunEvents } from "./run-events.ts";
import { Lookups } from "./lookups.ts";
import { Scheduler } from "./scheduler.ts";
import { syncConcurrency } from "./queue/concurrency.ts";
import { StoreQueue } from "./queue/run-queue.ts";
import { ServingRouter } from "./router/serving-router.ts";
import type { ServingHost } from "./router/serving-control.ts";
import { openStore } from "./store/index.ts";
import { StoreUpkeep } from "./store/upkeep.ts";
import { Retention } from "./retention.ts";
import { blobsDir } from "./blob-staging.ts";
import { checkCacheDir } from "./workers/local-cache-dir.ts";
import type { SandboxStatus } from "../contract/vocabulary.ts";
import { workerRoutes } from "./api/routes-worker.ts";
import { WorkerHub } from "./workers/hub.ts";
import { LocalWorker } from "./workers/local-worker.ts";
import { earlierLocalWorker, forgetLocalWorker, recordLocalWorker } from "./workers/local-worker-record.ts";
import { ReportWriter } from "./workers/report.ts";
import { writeFileAtomic } from "../lib/write-file-atomic.ts";

export interface Platform {
  url: string;
  port: number;
  adminToken: string;
  /** True when this start created the data folder's admin token. */
  firstStart: boolean;
  /** Whether the local worker runs user processes sandboxed (and if not, why); unknown without a local worker. */
  sandbox: SandboxStatus;
  ctx: PlatformContext;
  /** What the retention window and the blob sweep delete (passes run on their own; `pass()` runs one now). */
  retention: Retention;
  close(): Promise<void>;
}

export interface PlatformHooks {
  /** Serving layer factory; omitted = the router to servings on workers, null = this node routes no servings. */
  servings?: ((ctx: PlatformContext, app: Hono) => ServingHost & { close(): Promise<void> }) | null;
  /** Dashboard mounted at `/`. */
  dashboard?: (ctx: PlatformContext, app: Hono) => void;
}

/** The admin token lives in the data folder (0600): only its hash is in the store. */
async function ensureAdminToken(ctx: PlatformContext): Promise<{ token: string; created: boolean }> {
  const file = join(ctx.config.dataDir, ADMIN_TOKEN_FILE);
  if (existsSync(file)) {
    const token = readFileSync(file, "utf8").trim();
    if (await ctx.store.verifyToken(token)) return { token, created: false };
  }
  const { secret } = await ctx.store.createToken({ scope: "admin", name: "admin (nbx up)" });
  writeFileSync(file, secret + "\n", { mode: 0o600 });
  chmodSync(file, 0o600);
  return { token: secret, created: true };
}

// How long a stop waits for requests still in flight before it closes their connections.
const SERVER_CLOSE_GRACE_MS = 2_000;

// How long `nbx up` waits for its local worker to join before it reports the platform up anyway.
const LOCAL_WORKER_START_MS = 30_000;

/**
 * Start API + executor + scheduler. Embedded by default: PGlite in `dataDir`,
 * local worker processes; `databaseUrl` switches the store to Postgres.
 */
export async function startPlatform(input: Partial<PlatformConfig> = {}, hooks: PlatformHooks = {}): Promise<Platform> {
  const config = resolveConfig(input);
  checkCacheDir(config.cacheDir, config.dataDir);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const store = await openStore(config.databaseUrl ? { databaseUrl: config.databaseUrl } : { dataDir: config.dataDir });
  const events = new RunEvents();
  const bull = config.redisUrl ? new (await import("./queue/bull-queue.ts")).BullQueue(config.redisUrl, config.queuePrefix, events, store) : undefined;
  const queue = bull ?? new StoreQueue(events);
  const ctx: PlatformContext = { config, store, events, queue, lookups: new Lookups(store), paths: platformPaths(config.dataDir), publicUrl: "" };
  if (bull) {
    // Redis must answer before anything is queued; runs queued while Redis was away are queued
    // again, and every deployment's limit is set again.
    try {
      await bull.ping();
      await bull.requeueStored();
      await syncConcurrency(ctx);
    } catch (err) {
      await bull.close().catch(() => {});
      await store.close();
      throw err;
    }
  }
  const hub = new WorkerHub(ctx);
  // Embedded queue: a trigger hands its runs straight to a worker waiting on the empty queue.
  if (queue.kind === "embedded") ctx.handoff = (deploymentId, n) => hub.takeWaitingClaim(deploymentId, n);
  const reports = new ReportWriter(ctx);
  // PGlite has no autovacuum: the platform vacuums the runs it churns (Postgres does it on its own).
  const upkeep = store.kind === "pglite" ? new StoreUpkeep(store) : undefined;
  if (upkeep) events.on("finished", () => upkeep.noteFinished());
  const retention = new Retention(store, { retainMs: config.retainMs, blobsDir: blobsDir(config.dataDir) });
  ctx.flushRunOutput = () => reports.flush();
  // The local worker of an earlier start that crashed died with it: what it held comes back now.
  // The embedded store's data folder is locked to this control plane, so that is every local
  // worker's; on Postgres other control planes may run, so only the one this data folder recorded
  // (the rest come back when their lease lapses). Its token goes too.
  const earlier = earlierLocalWorker(config.dataDir);
  if (!config.databaseUrl) await hub.recoverAtStart();
  else if (earlier) await hub.recoverLocalWorker(earlier.tokenId);
  // Only ever a worker token: the record names no other kind, whoever wrote the file.
  if (earlier && (await store.getToken(earlier.tokenId))?.scope === "worker") await store.revokeToken(earlier.tokenId);

  const root = new Hono();
  const router = hooks.servings === undefined ? new ServingRouter(ctx, hub, root) : undefined;
  const servings = hooks.servings === null ? undefined : (router ?? hooks.servings!(ctx, root));
  if (router) hub.onGone = (ids) => router.workersGone(ids);
  const scheduler = new Scheduler(ctx);
  ctx.scheduler = scheduler;
  root.route("/api/v1", createApi(ctx, servings, (api) => api.route("/", workerRoutes(ctx, { hub, reports, assignments: async (id) => (router ? router.assignments(id) : []), servingNotes: async (id, notes) => router?.apply(id, notes), jobDeployments: async () => (await store.listDeployments()).filter((d) => d.type === "job").map((d) => d.id) }))));
  (hooks.dashboard ?? ((_ctx, app) => mountDashboard(app)))(ctx, root);
  root.notFound(notFound);


  let server: ServerType | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    server = serve({ fetch: root.fetch, port: config.port, hostname: config.host }, (info: AddressInfo) => resolve(info.port));
    server.once("error", reject);
  });
  // Clients keep connections open between calls and close an idle one a second before the server's
  // Keep-Alive hint. With node's 5 s, a fan-out's hundreds of idle connections all reached that edge
  // during a deploy of a few seconds, and a call sent on one the server was closing failed
  // (ECONNRESET; a POST cannot be sent again). The worker's listener keeps them a minute too.
  (server as unknown as { keepAliveTimeout: number }).keepAliveTimeout = 60_000;
  const url = `http://${config.host}:${port}`;
  ctx.publicUrl = url;
  const { token, created } = await ensureAdminToken(ctx);
  hub.start();
  upkeep?.start();
  retention.start();
  router?.start();
  scheduler.start();
  // The embedded path: one worker process of our own, with a worker token minted for this start.
  let local: LocalWorker | undefined;
  let sandbox: SandboxStatus = { kind: "none", reason: "no local worker (runs wait for `nbx worker` processes)" };
  let localToken: string | undefined;
  if (config.executor) {
    const t = await store.createToken({ scope: "worker", name: `local worker (${url})` });
    localToken = t.token.id;
    recordLocalWorker(config.dataDir, localToken);
    local = new LocalWorker(config, url, t.secret);
    const joined = hub.waitForWorker((w) => w.local, LOCAL_WORKER_START_MS);
    local.start();
    const w = await joined;
    if (w) {
      const sb = hub.sandboxOf(w.id);
      if (sb) sandbox = sb.kind === "bwrap" ? { kind: "bwrap", bwrap: sb.detail } : { kind: "none", reason: sb.detail };
      void router?.reconcile();
    } else sandbox = { kind: "none", reason: `the local worker did not join within ${LOCAL_WORKER_START_MS / 1000} s` };
  }
  const info: PlatformInfo = { url, pid: process.pid, dataDir: config.dataDir, startedAt: new Date().toISOString() };
  writeFileAtomic(join(config.dataDir, PLATFORM_FILE), JSON.stringify(info, null, 2) + "\n");

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    adminToken: token,
    firstStart: created,
    sandbox,
    ctx,
    retention,
    close: () =>
      (closing ??= (async () => {
        scheduler.stop();
        await local?.stop();
        if (localToken) {
          // A local worker that died instead of leaving (killed during its stop) held runs no one
          // else will hand back: take them back now, not a lease after the next start.
          await hub.recoverLocalWorker(localToken).catch(() => {});
          await store.revokeToken(localToken).catch(() => {});
          forgetLocalWorker(config.dataDir, localToken);
        }
        hub.stop();
        await router?.close();
        if (servings !== router) await servings?.close();
        await reports.flush();
        await new Promise<void>((r) => {
          if (!server) return r();
          // A connection whose request body was never read (a 413 before an upload ended) sits paused:
          // it neither ends nor keeps the process alive, so the stop would never finish. Requests
          // still in flight get a moment; then what is left is cut.
          const cut = setTimeout(() => (server as HttpServer).closeAllConnections(), SERVER_CLOSE_GRACE_MS);
          server.close(() => {
            clearTimeout(cut);
            r();
          });
        });
        rmSync(join(config.dataDir, PLATFORM_FILE), { force: true });
        await queue.close().catch(() => {});
        await retention.stop();
        await upkeep?.stop();
        await store.close();
      })()),
  };
}
