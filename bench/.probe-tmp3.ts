import { performance } from "node:perf_hooks";
import pg from "pg";
import { startScalePlatform } from "./cases/scale-fixture.ts";
const counts = new Map<string, { n: number; ms: number }>();
let on = false;
const orig = pg.Client.prototype.query as any;
(pg.Client.prototype as any).query = function (this: any, q: any, ...rest: any[]) {
  if (!on) return orig.call(this, q, ...rest);
  const text = (typeof q === "string" ? q : q?.text ?? "").replace(/\s+/g, " ").slice(0, 110);
  const t0 = performance.now();
  const r = orig.call(this, q, ...rest);
  const done = () => { const c = counts.get(text) ?? { n: 0, ms: 0 }; c.n++; c.ms += performance.now() - t0; counts.set(text, c); };
  if (r && typeof r.then === "function") r.then(done, done); else done();
  return r;
};
const slots = Number(process.argv[2] ?? 1);
const workers = Number(process.argv[3] ?? 1);
const N = Number(process.argv[4] ?? 1000);
const s = await startScalePlatform();
try {
  const remote = await s.ops.noop.deploy("bench", { client: s.client });
  for (let i = 0; i < workers; i++) await s.addWorker(slots);
  await remote.map(Array.from({ length: 200 }, (_, i) => i));
  on = true;
  const t0 = performance.now();
  await remote.map(Array.from({ length: N }, (_, i) => i));
  const ms = performance.now() - t0;
  on = false;
  console.log(`slots=${slots} workers=${workers} ${N} runs: ${(N / ms * 1000).toFixed(1)} runs/s`);
  let tot = 0;
  for (const [k, c] of [...counts].sort((a, b) => b[1].n - a[1].n)) { tot += c.n; console.log(`${(c.n / N).toFixed(3)}/run  mean ${(c.ms / c.n).toFixed(2)} ms  ${k}`); }
  console.log(`total ${(tot / N).toFixed(2)} statements per run`);
} finally {
  await s.close();
}
