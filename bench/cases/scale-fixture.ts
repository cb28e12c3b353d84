// The scale path for benchmarks: a control plane on a fresh Postgres schema with runs through BullMQ
// under a fresh Redis key prefix, no local worker (`executor: false`), and `nbx worker` processes
// joining it. close() stops every process it started and removes the schema, the keys and the folders.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Redis } from "ioredis";
import pg from "pg";
import { startPlatform, type Platform } from "../../src/platform/platform.ts";
import { PlatformClient } from "../../src/remote/client.ts";
// The same `nbx worker` processes the worker tests start (own folder, own process group, stopped at exit).
import { startWorkerProcess, type WorkerProc } from "../../test/worker/_helpers.ts";

const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const BENCH_DATABASE_URL = process.env.NBOX_BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const BENCH_REDIS_URL = process.env.NBOX_BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

// The deployed project: a no-op and a job burning a given number of loop iterations (pure CPU,
// so a run costs the same whether or not the machine is busy; `spinIterations` calibrates it).
const OPS = `import { operator } from "nbox";

export const noop = operator(function noop(i = 0) {
  return i;
});

export const spin = operator(function spin(n = 0) {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x * 31 + i) % 1000003;
  return x;
});
`;

function spinLocal(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x * 31 + i) % 1000003;
  return x;
}

/** Loop iterations of `spin` that take about `ms` of CPU in this process (warmed up first). */
export function spinIterations(ms: number): number {
  let n = 100_000;
  for (let i = 0; i < 20; i++) spinLocal(n);
  const samples: number[] = [];
  for (let i = 0; i < 15; i++) {
    const t0 = process.cpuUsage();
    spinLocal(n);
    const used = process.cpuUsage(t0);
    samples.push((used.user + used.system) / 1000);
  }
  samples.sort((a, b) => a - b);
  const perIter = samples[samples.length >> 1]! / n;
  n = Math.max(1, Math.round(ms / perIter));
  return n;
}

// An interrupted bench exits through its exit handlers, which stop every worker it started (they
// outlive their control plane otherwise: they keep trying to reach it).
for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => process.exit(130));

export interface ScalePlatform {
  platform: Platform;
  client: PlatformClient;
  /** The deployable operators (`noop`, `spin`) of a temp project with nbox linked. */
  ops: { noop: any; spin: any };
  /** Start an `nbx worker --slots n` process; resolves once it joined. */
  addWorker(slots: number): Promise<WorkerProc>;
  /** Finished runs per worker id (checks that every worker took part). */
  runsPerWorker(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/** Postgres and Redis answer? null when they do, else why not. */
export async function scaleServicesMissing(): Promise<string | null> {
  const c = new pg.Client({ connectionString: BENCH_DATABASE_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query("select 1");
  } catch (err) {
    return `no Postgres at ${BENCH_DATABASE_URL}: ${(err as Error).message}`;
  } finally {
    await c.end().catch(() => {});
  }
  const r = new Redis(BENCH_REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  r.on("error", () => {});
  try {
    await r.connect();
    await r.ping();
  } catch (err) {
    return `no Redis at ${BENCH_REDIS_URL}: ${(err as Error).message}`;
  } finally {
    r.disconnect();
  }
  return null;
}

async function sql(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

async function deleteKeys(prefix: string): Promise<void> {
  const r = new Redis(BENCH_REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== "0");
  } finally {
    r.disconnect();
  }
}

/** A control plane on the scale path with no worker yet (add them with addWorker). */
export async function startScalePlatform(): Promise<ScalePlatform> {
  const dirs: string[] = [];
  const workers: WorkerProc[] = [];
  const schema = `bench_${randomBytes(6).toString("hex")}`;
  const prefix = `nbxbench:${randomBytes(5).toString("hex")}`;
  let platform: Platform | undefined;
  const close = async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await platform?.close();
    await sql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch((err) => console.error(`  dropping schema ${schema}: ${(err as Error).message}`));
    await deleteKeys(prefix).catch((err) => console.error(`  removing Redis keys ${prefix}:*: ${(err as Error).message}`));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  try {
    await sql(`CREATE SCHEMA ${schema}`);
    const db = new URL(BENCH_DATABASE_URL);
    db.searchParams.set("options", `-c search_path=${schema}`);
    const dataDir = mkdtempSync(join(tmpdir(), "nbox-bench-scale-data-"));
    const cacheDir = mkdtempSync(join(tmpdir(), "nbox-bench-scale-cache-"));
    const project = mkdtempSync(join(tmpdir(), "nbox-bench-scale-project-"));
    dirs.push(dataDir, cacheDir, project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "nbox-bench-scale", private: true, type: "module" }, null, 2));
    writeFileSync(join(project, "ops.ts"), OPS);
    mkdirSync(join(project, "node_modules"));
    symlinkSync(REPO, join(project, "node_modules", "nbox"), "dir");
    platform = await startPlatform({ port: 0, dataDir, cacheDir, databaseUrl: db.toString(), redisUrl: BENCH_REDIS_URL, queuePrefix: prefix, executor: false });
    const p = platform;
    const client = new PlatformClient({ url: p.url, token: p.adminToken });
    const res = await fetch(`${p.url}/api/v1/tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${p.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ worker: true, name: "bench worker" }),
    });
    if (res.status !== 201) throw new Error(`creating a worker token: HTTP ${res.status} ${await res.text()}`);
    const workerToken = ((await res.json()) as { secret: string }).secret;
    const ops = (await import(pathToFileURL(join(project, "ops.ts")).href)) as ScalePlatform["ops"];
    return {
      platform: p,
      client,
      ops,
      async addWorker(slots) {
        const w = await startWorkerProcess({ url: p.url, token: workerToken, slots });
        workers.push(w);
        return w;
      },
      async runsPerWorker() {
        const c = new pg.Client({ connectionString: db.toString() });
        await c.connect();
        try {
          const { rows } = await c.query<{ worker_id: string; n: string }>("select worker_id, count(*) as n from runs where status = 'succeeded' group by worker_id");
          return Object.fromEntries(rows.map((r) => [r.worker_id, Number(r.n)]));
        } finally {
          await c.end();
        }
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Map until every worker in `ids` has finished at least one run (each pays its cold start here, untimed). */
export async function warmWorkers(s: ScalePlatform, remote: any, ids: string[], item: unknown): Promise<void> {
  for (let round = 0; round < 20; round++) {
    await remote.map(Array.from({ length: 100 }, () => item));
    const per = await s.runsPerWorker();
    if (ids.every((id) => (per[id] ?? 0) > 0)) return;
  }
  throw new Error(`workers ${ids.join(", ")} did not all take runs during warm-up`);
}

/** Runs/s of one remote.map of `items`, and how many of them each worker ran. */
export async function timedMap(s: ScalePlatform, remote: any, items: unknown[]): Promise<{ rate: number; split: Record<string, number> }> {
  const before = await s.runsPerWorker();
  const t0 = performance.now();
  await remote.map(items);
  const rate = items.length / ((performance.now() - t0) / 1000);
  const after = await s.runsPerWorker();
  const split = Object.fromEntries(Object.entries(after).map(([id, n]) => [id, n - (before[id] ?? 0)]));
  return { rate, split };
}

/**
 * How many items keep a timed map near `seconds` at `rate` runs/s, in [min, max] (whole hundreds):
 * on a busy machine the scale path runs at tens of runs/s, and `npm run bench` has a time budget.
 */
export function itemsFor(rate: number, seconds: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, Math.round((rate * seconds) / 100) * 100));
}
