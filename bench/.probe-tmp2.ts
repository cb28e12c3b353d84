import { performance } from "node:perf_hooks";
import { startScalePlatform } from "./cases/scale-fixture.ts";
const slots = Number(process.argv[2] ?? 1);
const workers = Number(process.argv[3] ?? 1);
const N = Number(process.argv[4] ?? 1000);
const s = await startScalePlatform();
try {
  const remote = await s.ops.noop.deploy("bench", { client: s.client });
  process.env.NODE_OPTIONS = "--import /tmp/benchx/hook.mjs";
  const ws = [];
  for (let i = 0; i < workers; i++) ws.push(await s.addWorker(slots));
  delete process.env.NODE_OPTIONS;
  await remote.map(Array.from({ length: 200 }, (_, i) => i));
  const t0 = performance.now();
  await remote.map(Array.from({ length: N }, (_, i) => i));
  const ms = performance.now() - t0;
  console.log(`slots=${slots} workers=${workers} ${N} runs: ${(N / ms * 1000).toFixed(1)} runs/s, ${(ms/N).toFixed(2)} ms/run`);
  for (const w of ws) process.kill(w.pid, "SIGUSR2");
  await new Promise((r) => setTimeout(r, 500));
  for (const w of ws) console.log(w.output().split("\n").filter((l) => l.includes("[hook")).join("\n"));
} finally {
  await s.close();
}
