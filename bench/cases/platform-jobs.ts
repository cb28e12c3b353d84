// Job platform benchmarks: warm trigger→result latency, cold start, remote map
// throughput and redeploy of an unchanged project, each against a baseline from the same run.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { startBenchPlatform } from "../fixtures/platform-project.ts";
import { median, result, type BenchCase, type BenchResult } from "../harness.ts";
import { childrenOf, cpuByGroup, perItem, procAvailable } from "./process-cpu.ts";

const WARM_CALLS = 300;
const COLD_STARTS = 5;
const MAP_ITEMS = 5_000;

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export const platformJobs: BenchCase = {
  name: "platform-jobs",
  rows: ["job-warm-p50", "job-warm-p95", "job-cold-start-p50", `job-map-${MAP_ITEMS}`, "redeploy-unchanged"],
  description: `warm call p50/p95 (${WARM_CALLS} calls), cold start p50 (${COLD_STARTS}), remote.map of ${MAP_ITEMS}, unchanged redeploy`,
  async run() {
    const out: BenchResult[] = [];
    const b = await startBenchPlatform();
    try {
      const remote = await b.foo.deploy("bench", { client: b.client });
      await remote(1); // cold start outside the warm measurement

      // Warm trigger → result, vs the same function called in-process.
      const warm: number[] = [];
      for (let i = 0; i < WARM_CALLS; i++) {
        const t0 = performance.now();
        await remote(i);
        warm.push(performance.now() - t0);
      }
      const local: number[] = [];
      for (let i = 0; i < WARM_CALLS; i++) {
        const t0 = performance.now();
        await b.foo(i);
        local.push(performance.now() - t0);
      }
      out.push(result({ name: "job-warm-p50", value: median(warm), unit: "ms trigger→result", baseline: "in-process operator call", baselineValue: median(local), target: 10, better: "lower" }));
      out.push(result({ name: "job-warm-p95", value: percentile(warm, 95), unit: "ms trigger→result", baseline: "in-process operator call", baselineValue: percentile(local, 95), target: 25, better: "lower" }));

      // Cold start: fork + load of the deployed bundle, vs spawning `node -e 0`.
      const { deployment } = await b.client.call("GET /workspaces/{ws}/deployments/{name}", { params: { ws: "bench", name: "foo" } });
      const { versionDir, workerPaths } = await import("../../src/worker/paths.ts");
      const bundleDir = versionDir(workerPaths(b.platform.ctx.config.cacheDir), deployment.contentHash);
      // The shipped executor (dist/, what `nbx up` runs) with the platform's own launch settings for
      // the workspace (sandbox, scratch folder, shared compile cache, runtime token): a user's cold start.
      const shipped = (await import("../../dist/worker/jobs/index.js")) as unknown as typeof import("../../src/worker/jobs/index.ts");
      const ws = await b.platform.ctx.store.getWorkspaceByName("bench");
      // The launch settings the local worker uses (same cache, sandbox, a workspace token for the run).
      const { setupLauncher } = await import("../../src/worker/setup.ts");
      const cfg = b.platform.ctx.config;
      const launcher = await setupLauncher(workerPaths(cfg.cacheDir), { sandbox: cfg.sandbox, passEnv: cfg.passEnv, hide: [cfg.dataDir], runtimeToken: async () => ({ token: b.platform.adminToken, url: b.platform.url }) });
      const launch = await launcher.forWorkspace(ws!.id);
      const cold: number[] = [];
      for (let i = 0; i < COLD_STARTS; i++) {
        const pool = new shipped.ProcessPool({ slots: 1 });
        const t0 = performance.now();
        const r = await shipped.executeCall(pool, { key: "bench", bundleDir, launch, locator: { file: join(bundleDir, "ops.ts"), exportName: "foo", kind: "fn", init: [] }, runId: `cold-${i}`, args: [2] });
        cold.push(performance.now() - t0);
        await pool.close();
        if (!r.ok) throw new Error(`cold start call failed: ${JSON.stringify(r.error)}`);
      }
      const spawn: number[] = [];
      for (let i = 0; i < COLD_STARTS; i++) {
        const t0 = performance.now();
        spawnSync(process.execPath, ["-e", "0"]);
        spawn.push(performance.now() - t0);
      }
      out.push(result({ name: "job-cold-start-p50", value: median(cold), unit: "ms fork→loaded→result", baseline: "spawn `node -e 0`", baselineValue: median(spawn), target: 400, better: "lower" }));

      // Throughput of remote.map through the embedded platform (PGlite, the local worker; short calls
      // travel several to a run), vs local map. Steady state, like the scale rows: a warm-up map first starts a
      // process in every slot of the local worker (their cold starts have their own row).
      const items = Array.from({ length: MAP_ITEMS }, (_, i) => i);
      await remote.map(items.slice(0, 500));
      // Where the CPU of a run goes (Linux): this process (the control plane, its store thread and the
      // client), the local worker (this process's child) and the user processes under it.
      const worker = procAvailable() ? childrenOf(process.pid, " worker --platform ") : [];
      const cpuBefore = cpuByGroup(worker);
      let t0 = performance.now();
      await remote.map(items);
      const remoteRate = MAP_ITEMS / ((performance.now() - t0) / 1000);
      const cpu = perItem(cpuBefore, cpuByGroup(worker), MAP_ITEMS);
      const split = worker.length ? `; CPU per item: platform + client ${cpu.benchProcess.toFixed(2)} ms, worker ${cpu.workers.toFixed(2)}, children ${cpu.children.toFixed(2)}` : "";
      t0 = performance.now();
      await b.foo.map(items);
      const localRate = MAP_ITEMS / ((performance.now() - t0) / 1000);
      out.push(result({ name: `job-map-${MAP_ITEMS}`, value: remoteRate, unit: `items/s (embedded: PGlite, local worker, short calls batched several to a run, after a warm-up map${split})`, baseline: "local op.map items/s", baselineValue: localRate, target: 10_000, better: "higher" }));

      // Redeploy of an unchanged project: nothing uploaded, no new version.
      const redeploy: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t1 = performance.now();
        await b.foo.deploy("bench", { client: b.client });
        redeploy.push(performance.now() - t1);
      }
      const dry: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t1 = performance.now();
        await b.foo.deploy("bench", { dryRun: true });
        dry.push(performance.now() - t1);
      }
      out.push(result({ name: "redeploy-unchanged", value: median(redeploy), unit: "ms (0 bytes uploaded)", baseline: "dry run (bundle + hash only)", baselineValue: median(dry), target: 300, better: "lower" }));
    } finally {
      await b.close();
    }
    return out;
  },
};
