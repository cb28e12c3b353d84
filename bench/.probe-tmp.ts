import { performance } from "node:perf_hooks";
import { startScalePlatform } from "./cases/scale-fixture.ts";
const slots = Number(process.argv[2] ?? 1);
const workers = Number(process.argv[3] ?? 1);
const N = Number(process.argv[4] ?? 1000);
const s = await startScalePlatform();
try {
  const remote = await s.ops.noop.deploy("bench", { client: s.client });
  for (let i = 0; i < workers; i++) await s.addWorker(slots);
  await remote.map(Array.from({ length: 200 }, (_, i) => i));
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await remote.map(Array.from({ length: N }, (_, i) => i));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  console.log(`slots=${slots} workers=${workers} ${N} runs: ${(N / ms * 1000).toFixed(1)} runs/s; control-plane process CPU ${((cpu.user + cpu.system) / 1000 / ms * 100).toFixed(0)}% of wall`);
  const runs = (await s.platform.ctx.store.listRuns({ limit: 500 })).filter((r: any) => r.startedAt).sort((a: any, b: any) => a.startedAt - b.startedAt);
  const exec: number[] = [], gap: number[] = [], queued: number[] = [];
  for (let i = 0; i < runs.length; i++) {
    const r: any = runs[i];
    exec.push(r.finishedAt - r.startedAt);
    if (i) gap.push(r.startedAt - (runs[i - 1] as any).finishedAt);
  }
  const med = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
  console.log(`exec median ${med(exec)} ms, gap finish→next start median ${med(gap)} ms (n=${runs.length})`);
} finally {
  await s.close();
}
