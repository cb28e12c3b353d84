import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import { ADMIN_TOKEN_FILE, PLATFORM_FILE, type PlatformInfo } from "../remote/discovery.ts";
import { mountDashboard } from "../dashboard/index.ts";
import { createApi } from "./api/app.ts";
import { resolveConfig, type PlatformConfig } from "./config.ts";
import { platformPaths, type PlatformContext } from "./context.ts";
import { ProcessPool } from "./executor/index.ts";
import { RunEvents } from "./run-events.ts";
import { Lookups } from "./lookups.ts";
import { Scheduler } from "./scheduler.ts";
import { createServingHost } from "./serving/host.ts";
import type { ServingHost } from "./serving/types.ts";
import { openStore } from "./store/index.ts";
import { RunLoop } from "./worker/run-loop.ts";
import { checkCacheDir } from "../worker/cache-dir.ts";
import type { SandboxStatus } from "../worker/sandbox.ts";
import { setupLauncher } from "../worker/setup.ts";

export interface Platform {
  url: string;
  port: number;
  adminToken: string;
  /** True when this start created the data folder's admin token. */
  firstStart: boolean;
  /** Whether user processes run sandboxed (and if not, why). */
  sandbox: SandboxStatus;
  ctx: PlatformContext;
  close(): Promise<void>;
}

export interface PlatformHooks {
  /** Serving layer factory; omitted = the local process host (`createServingHost`), null = this node hosts no servings. */
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

/**
 * Start API + executor + scheduler. Embedded by default: PGlite in `dataDir`,
 * local worker processes; `databaseUrl` switches the store to Postgres.
 */
export async function startPlatform(input: Partial<PlatformConfig> = {}, hooks: PlatformHooks = {}): Promise<Platform> {
  const config = resolveConfig(input);
  checkCacheDir(config.cacheDir, config.dataDir);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const store = await openStore(config.databaseUrl ? { databaseUrl: config.databaseUrl } : { dataDir: config.dataDir });
  const ctx: PlatformContext = { config, store, events: new RunEvents(), lookups: new Lookups(store), paths: platformPaths(config.dataDir, config.cacheDir), publicUrl: "" };
  const tokens = {
    createToken: store.createToken.bind(store),
    revokeToken: store.revokeToken.bind(store),
    isLive: async (secret: string) => (await ctx.lookups.token(secret)) !== null,
  };
  const launcher = (ctx.launcher = await setupLauncher(config, ctx.paths, tokens, () => ctx.publicUrl));
  const workerId = `${hostname()}:${process.pid}`;
  // Runs a crashed platform left running: the embedded store's data folder is locked to this
  // platform, so none of them can still be held — take them all back now. On Postgres other nodes
  // may hold runs; there the run loop takes back only runs whose lease lapsed.
  if (!config.databaseUrl) await store.recoverStaleRuns();

  const root = new Hono();
  const servings = hooks.servings === null ? undefined : (hooks.servings ?? createServingHost)(ctx, root);
  const scheduler = new Scheduler(ctx);
  ctx.scheduler = scheduler;
  root.route("/api/v1", createApi(ctx, servings));
  (hooks.dashboard ?? ((_ctx, app) => mountDashboard(app)))(ctx, root);

  const pool = new ProcessPool({ slots: config.slots });
  const loop = config.executor ? new RunLoop(ctx, pool, workerId, config.slots) : undefined;
  if (loop) ctx.flushRunOutput = () => loop.flushOutput();

  let server: ServerType | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    server = serve({ fetch: root.fetch, port: config.port, hostname: config.host }, (info: AddressInfo) => resolve(info.port));
    server.once("error", reject);
  });
  const url = `http://${config.host}:${port}`;
  ctx.publicUrl = url;
  const { token, created } = await ensureAdminToken(ctx);
  loop?.start();
  scheduler.start();
  const info: PlatformInfo = { url, pid: process.pid, dataDir: config.dataDir, startedAt: new Date().toISOString() };
  writeFileSync(join(config.dataDir, PLATFORM_FILE), JSON.stringify(info, null, 2) + "\n");

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    adminToken: token,
    firstStart: created,
    sandbox: launcher.status,
    ctx,
    close: () =>
      (closing ??= (async () => {
        scheduler.stop();
        await loop?.stop();
        await servings?.close();
        await pool.close();
        await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
        rmSync(join(config.dataDir, PLATFORM_FILE), { force: true });
        await launcher.close();
        await store.close();
      })()),
  };
}
