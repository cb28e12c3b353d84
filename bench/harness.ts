// Shared pieces of the benchmark harness: the shape of a result row (what the README table and bench/results.json show) and timing helpers.
import { performance } from "node:perf_hooks";

/** One row of bench/results.json. */
export interface BenchResult {
  name: string;
  value: number;
  /** Unit of `value`; says so when the target applies to `ratio` instead. */
  unit: string;
  /** What the project is measured against, in the same run. */
  baseline: string;
  baselineValue: number;
  /** value / baselineValue. */
  ratio: number;
  target: number;
  better: "lower" | "higher";
  meets: boolean;
}

/** A benchmark module: `bench/cases/<name>.ts`, registered in `bench/cases/index.ts`. */
export interface BenchCase {
  name: string;
  /** One line for the listing. */
  description: string;
  /** Names of the rows it writes when they differ from `name` (`npm run bench -- <row>` selects the case too). */
  rows?: string[];
  run(): Promise<BenchResult[]>;
}

export interface ResultInput {
  name: string;
  value: number;
  unit: string;
  baseline: string;
  baselineValue: number;
  target: number;
  better: "lower" | "higher";
  /** Which number `target` applies to (default "value"); `unit` should say so when it is "ratio". */
  targetOn?: "value" | "ratio";
}

const round = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(4)) : x);

/** Build a result row: computes `ratio` and `meets`, rounds to 4 significant digits. */
export function result(r: ResultInput): BenchResult {
  const ratio = r.value / r.baselineValue;
  const measured = r.targetOn === "ratio" ? ratio : r.value;
  const meets = r.better === "lower" ? measured <= r.target : measured >= r.target;
  return {
    name: r.name,
    value: round(r.value),
    unit: r.unit,
    baseline: r.baseline,
    baselineValue: round(r.baselineValue),
    ratio: round(ratio),
    target: r.target,
    better: r.better,
    meets,
  };
}

export function median(xs: number[]): number {
  if (xs.length === 0) throw new RangeError("median of an empty list");
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Wall time of one run of `fn`, in milliseconds. */
export async function timeMs(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/**
 * Time each variant `rounds` times, interleaved (A B A B …) so drift and GC hit both alike,
 * after `warmup` untimed runs each. Returns the median milliseconds per variant.
 */
export async function compareMs<K extends string>(
  variants: Record<K, () => unknown>,
  opts: { rounds: number; warmup?: number },
): Promise<Record<K, number>> {
  const keys = Object.keys(variants) as K[];
  for (let w = 0; w < (opts.warmup ?? 1); w++) for (const k of keys) await variants[k]();
  const times = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (let r = 0; r < opts.rounds; r++) for (const k of keys) times[k].push(await timeMs(variants[k]));
  return Object.fromEntries(keys.map((k) => [k, median(times[k])])) as Record<K, number>;
}
