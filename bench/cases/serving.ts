// Serving benchmarks: a method call through the platform proxy to a serving child
// (examples/bar `inc()`), latency p50/p99 on loopback and requests/s with 32 concurrent clients,
// against a raw hono handler doing the same work in its own process, measured in the same run.
import { fork } from "node:child_process";
import http from "node:http";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { median, result, type BenchCase } from "../harness.ts";

const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const LATENCY_CALLS = 2_000;
const WARMUP_CALLS = 300;
const CLIENTS = 32;
const RPS_WINDOW_MS = 2_500;
const ROUNDS = 2;

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

type Call = () => Promise<unknown>;

/**
 * The same small client for both servers: node:http over a keep-alive agent with a socket per
 * concurrent client, body read as text and parsed. (fetch/undici costs the client several times
 * more CPU than either server spends, so it would measure the client, not the servers.)
 */
function poster(url: string, token?: string): Call {
  const u = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const body = JSON.stringify({ args: [] });
  const headers: http.OutgoingHttpHeaders = { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
  if (token) headers.authorization = `Bearer ${token}`;
  const opts: http.RequestOptions = { host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers, agent };
  return () =>
    new Promise((resolve, reject) => {
      const req = http.request(opts, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => {
          const json = JSON.parse(text) as { ok: boolean };
          if (res.statusCode !== 200 || !json.ok) reject(new Error(`HTTP ${res.statusCode}: ${text}`));
          else resolve(json);
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
}

async function latencies(call: Call, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    out.push(performance.now() - t0);
  }
  return out;
}

async function rps(call: Call, windowMs = RPS_WINDOW_MS): Promise<number> {
  let done = 0;
  const until = performance.now() + windowMs;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < until) {
        await call();
        done++;
      }
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}

async function startHono(): Promise<{ url: string; stop(): void }> {
  const child = fork(join(REPO, "bench/fixtures/hono-baseline.mjs"), [], { cwd: REPO, stdio: ["ignore", "pipe", "inherit", "ipc"], execArgv: [] });
  const port = await new Promise<number>((ok, fail) => {
    child.stdout!.once("data", (d: Buffer) => ok(Number(String(d).trim())));
    child.once("exit", (code) => fail(new Error(`hono baseline exited (${code})`)));
  });
  return { url: `http://127.0.0.1:${port}/call/inc`, stop: () => void child.kill() };
}

async function startServingPlatform(): Promise<{ url: string; token: string; stop(): Promise<void> }> {
  const child = fork(join(REPO, "bench/fixtures/serving-platform.ts"), [], { cwd: REPO, stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: ["--import", "tsx"] });
  const info = await new Promise<{ url: string; token: string }>((ok, fail) => {
    child.once("message", (m) => ok(m as { url: string; token: string }));
    child.once("exit", (code) => fail(new Error(`serving platform exited (${code})`)));
  });
  return { ...info, stop: () => new Promise<void>((r) => (child.once("exit", () => r()), child.disconnect())) };
}

export const servingBench: BenchCase = {
  name: "serving",
  description: `serving inc() via the platform proxy: p50/p99 of ${LATENCY_CALLS} calls, req/s with ${CLIENTS} clients, vs a raw hono handler`,
  async run() {
    // Both servers run in their own processes (the platform as `nbx up` would); this process is the client.
    const [platform, hono] = await Promise.all([startServingPlatform(), startHono()]);
    try {
      const serving = poster(`${platform.url}call/inc`, platform.token);
      const raw = poster(hono.url);
      await latencies(serving, WARMUP_CALLS);
      await latencies(raw, WARMUP_CALLS);
      await rps(serving, 500); // warm the concurrent paths (JIT, sockets) of both too
      await rps(raw, 500);
      const lat = { serving: [] as number[], raw: [] as number[] };
      const thr = { serving: [] as number[], raw: [] as number[] };
      for (let r = 0; r < ROUNDS; r++) {
        lat.serving.push(...(await latencies(serving, LATENCY_CALLS / ROUNDS)));
        lat.raw.push(...(await latencies(raw, LATENCY_CALLS / ROUNDS)));
        thr.serving.push(await rps(serving));
        thr.raw.push(await rps(raw));
      }
      const servingRps = median(thr.serving);
      const rawRps = median(thr.raw);
      return [
        result({ name: "serving-call-p50", value: median(lat.serving), unit: "ms per call (loopback, through the platform proxy)", baseline: "raw hono handler, same work", baselineValue: median(lat.raw), target: 1, better: "lower" }),
        result({ name: "serving-call-p99", value: percentile(lat.serving, 99), unit: "ms per call (loopback, through the platform proxy)", baseline: "raw hono handler, same work", baselineValue: percentile(lat.raw, 99), target: 5, better: "lower" }),
        result({ name: "serving-rps-32", value: servingRps, unit: `req/s with ${CLIENTS} clients (target: ratio to hono ≥ 0.7)`, baseline: "raw hono handler, same work", baselineValue: rawRps, target: 0.7, better: "higher", targetOn: "ratio" }),
      ];
    } finally {
      hono.stop();
      await platform.stop();
    }
  },
};
