// Shared setup for the job-platform end-to-end tests: a real platform on a free port with a fresh
// data dir, and deployable projects copied to temp folders (node_modules/nbox -> this repo).
import { after, before } from "node:test";
import { createHash, randomBytes } from "node:crypto";
import pg from "pg";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { startPlatform, type Platform } from "../../../src/platform/platform.ts";
import type { PlatformConfig } from "../../../src/platform/config.ts";
import { PlatformClient } from "../../../src/remote/client.ts";
import { openStore } from "../../../src/platform/store/index.ts";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const FIXTURES = join(REPO, "test/platform/jobs/fixtures");

export interface TestPlatform {
  platform: Platform;
  dataDir: string;
  client: PlatformClient;
  url: string;
  token: string;
  /** The cache folders of its workers (the local one's, then any extra `nbx worker`'s). */
  caches: string[];
  /** Raw API call: `api("POST", "/workspaces/w/deployments/x/runs", { args: [] })`. */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any }>;
  close(): Promise<void>;
}

const cleanups: string[] = [];
process.on("exit", () => {
  for (const d of cleanups) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(d);
  return d;
}

/**
 * A fresh data dir. A new PGlite database takes ~10 s to initdb, so a migrated empty one is made
 * once (per schema version, shared by the test files) and copied: each copy is still a fresh database.
 */
export async function freshDataDir(): Promise<string> {
  const key = createHash("sha256")
    .update(readFileSync(join(REPO, "src/platform/store/migrations.ts")))
    .update(readFileSync(join(REPO, "src/platform/store/schema.ts")))
    .update(readFileSync(join(REPO, "node_modules/@electric-sql/pglite/package.json")))
    .digest("hex")
    .slice(0, 16);
  const template = join(tmpdir(), `nbx-jobs-pgtemplate-${key}`);
  if (!existsSync(join(template, "pgdata"))) {
    const building = mkdtempSync(join(tmpdir(), "nbx-jobs-pgbuild-"));
    const store = await openStore({ dataDir: building });
    await store.close();
    rmSync(join(building, "pgdata", "postmaster.pid"), { force: true });
    try {
      renameSync(building, template);
    } catch {
      rmSync(building, { recursive: true, force: true }); // another test file made it first
    }
  }
  const dir = tempDir("nbx-jobs-data-");
  cpSync(join(template, "pgdata"), join(dir, "pgdata"), { recursive: true });
  return dir;
}

let testCache: string | undefined;
/** One worker cache per test process, shared by its platforms (as platforms on one machine share ~/.cache/nbox). */
export function testCacheDir(): string {
  return (testCache ??= tempDir("nbx-cache-"));
}

/** Which store the jobs suite runs on: `NBOX_TEST_STORE=postgres` runs the same tests on Postgres. */
export const STORE_UNDER_TEST = process.env.NBOX_TEST_STORE === "postgres" ? "postgres" : "pglite";
const TEST_DATABASE_URL = process.env.NBOX_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** A fresh schema on the test Postgres (dropped by the returned function). */
export async function freshPostgresSchema(): Promise<{ databaseUrl: string; drop(): Promise<void> }> {
  const schema = `t_jobs_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return {
    databaseUrl: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
}

/** `NBOX_TEST_QUEUE=bullmq`: runs go through BullMQ on the test Redis (a fresh key prefix per platform). */
export const QUEUE_UNDER_TEST = process.env.NBOX_TEST_QUEUE === "bullmq" ? "bullmq" : "embedded";
/** `NBOX_TEST_WORKERS=2`: an `nbx worker` process joins besides the local one. */
const EXTRA_WORKERS = Math.max(0, Number(process.env.NBOX_TEST_WORKERS ?? 1) - 1);

/** Calls that run at once over all workers of a test platform started with `slots` (each worker gets as many). */
export const totalSlots = (slots: number): number => slots * (1 + EXTRA_WORKERS);

/** A fresh platform; every test file starts its own (fresh data dir, or a fresh Postgres schema, and a fresh queue prefix). */
export async function startTestPlatform(config: Partial<PlatformConfig> = {}, dataDir?: string): Promise<TestPlatform> {
  const pgSchema = STORE_UNDER_TEST === "postgres" && !config.databaseUrl ? await freshPostgresSchema() : undefined;
  dataDir ??= pgSchema ? tempDir("nbx-jobs-data-") : await freshDataDir();
  await attemptCounter();
  const redis = QUEUE_UNDER_TEST === "bullmq" && !config.redisUrl ? await import("../../queue/_redis.ts") : undefined;
  const queuePrefix = redis?.freshPrefix();
  const queue = redis ? { redisUrl: redis.TEST_REDIS_URL, queuePrefix } : {};
  const platform = await startPlatform({ port: 0, dataDir, cacheDir: testCacheDir(), ...(pgSchema ? { databaseUrl: pgSchema.databaseUrl } : {}), ...queue, ...config });
  // The scale path: more workers join the same control plane (imported here: those helpers import this file).
  const extra: Array<{ cache: string; stop(): Promise<void> }> = [];
  if (EXTRA_WORKERS > 0 && config.executor !== false) {
    const w = await import("../../worker/_helpers.ts");
    const token = await w.createWorkerToken(platform.url, platform.adminToken, "extra test worker");
    for (let i = 0; i < EXTRA_WORKERS; i++) extra.push(await w.startWorkerProcess({ url: platform.url, token: token.secret, slots: config.slots ?? 2 }));
  }
  const client = new PlatformClient({ url: platform.url, token: platform.adminToken });
  // SDK entry points that take no client (fromJob without opts, deploy without { client }) use these.
  process.env.NBOX_URL = platform.url;
  process.env.NBOX_TOKEN = platform.adminToken;
  return {
    platform,
    dataDir,
    client,
    url: platform.url,
    token: platform.adminToken,
    caches: [platform.ctx.config.cacheDir, ...extra.map((w) => w.cache)],
    async api(method, path, body, headers = {}) {
      const h: Record<string, string> = { authorization: `Bearer ${platform.adminToken}`, ...headers };
      let payload: string | undefined;
      if (body !== undefined) {
        payload = typeof body === "string" ? body : JSON.stringify(body);
        h["content-type"] ??= "application/json";
      }
      const res = await fetch(`${platform.url}/api/v1${path}`, { method, headers: h, body: payload });
      const text = await res.text();
      let json: any;
      try {
        json = JSON.parse(text);
      } catch {
        json = { raw: text };
      }
      return { status: res.status, json };
    },
    close: async () => {
      await Promise.all(extra.map((w) => w.stop()));
      await platform.close();
      await pgSchema?.drop();
      if (redis && queuePrefix) await redis.deleteKeys(queuePrefix);
    },
  };
}

/** Copy a project (a fixture name or an absolute folder) to a temp dir with node_modules/nbox linked. */
export function copyProject(src: string): string {
  const from = src.startsWith("/") ? src : join(FIXTURES, src);
  const dir = tempDir("nbx-jobs-proj-");
  cpSync(from, dir, { recursive: true, filter: (s) => !s.split("/").includes("node_modules") });
  mkdirSync(join(dir, "node_modules"), { recursive: true });
  symlinkSync(REPO, join(dir, "node_modules", "nbox"), "dir");
  return dir;
}

/** Copy a project and import its ops.ts (the module the operators are found in). */
export async function importProject<T = any>(src: string, file = "ops.ts"): Promise<{ dir: string; mod: T }> {
  const dir = copyProject(src);
  const mod = (await import(pathToFileURL(join(dir, file)).href)) as T;
  return { dir, mod };
}

/**
 * Poll until `check` returns a truthy value (no fixed sleeps in assertions; bounded by `ms`). On
 * timeout the error carries what `explain` says about the state (a failure seen once in CI tells why).
 */
export async function eventually<T>(check: () => Promise<T | undefined | null | false>, ms = 20_000, what = "condition", explain?: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${explain ? `; ${await explain().catch((e: Error) => `(no explanation: ${e.message})`)}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let counterUrl: string | undefined;
let counterStarting: Promise<string> | undefined;
/**
 * Attempt counters for the `flaky` fixture, kept by this test process and reached over HTTP:
 * the processes running a job's attempts share no folder (each has its own scratch folder).
 */
function attemptCounter(): Promise<string> {
  return (counterStarting ??= new Promise((resolve) => {
    const counts = new Map<string, number>();
    const server = http.createServer((req, res) => {
      const n = (counts.get(req.url ?? "") ?? 0) + 1;
      counts.set(req.url ?? "", n);
      res.setHeader("connection", "close");
      res.end(String(n));
    });
    server.listen(0, "127.0.0.1", () => resolve((counterUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
    server.unref();
  }));
}

/** A key for the `flaky` fixture: the URL of a fresh attempt counter (after startTestPlatform). */
export function flakyKey(tag = "k"): string {
  if (!counterUrl) throw new Error("flakyKey() needs a started test platform (startTestPlatform starts the attempt counter)");
  return `${counterUrl}/${tag}-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

let n = 0;
/** A workspace name unique to this process. */
export const wsName = (tag: string) => `${tag}-${process.pid}-${++n}`;

/**
 * A suite's platform and fixture project: started before its tests, closed after them (registers
 * the node:test hooks of the suite it is called in). Read `tp` and `mod` inside tests.
 */
export function suitePlatform<T = any>(project: string): { readonly tp: TestPlatform; readonly mod: T } {
  const state: { tp?: TestPlatform; mod?: T } = {};
  before(async () => {
    state.tp = await startTestPlatform();
    state.mod = (await importProject<T>(project)).mod;
  });
  after(async () => {
    await state.tp?.close();
  });
  return {
    get tp() {
      return state.tp!;
    },
    get mod() {
      return state.mod!;
    },
  };
}
