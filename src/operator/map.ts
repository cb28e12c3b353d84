import { fanOut, type FanOutOptions, type SettledResult } from "./fan-out.ts";
import { invoke, invokeAll, stateOf } from "./invoke.ts";
import { getTracer } from "../trace/tracer.ts";
import type { Operator } from "./operator.ts";

export type { SettledResult } from "./fan-out.ts";

export interface MapOptions extends FanOutOptions {
  /** Run items in `n` worker threads instead of in-process (CPU-bound work). */
  processes?: number;
}

/** `op.map(inputs)`: one call per input (one argument each), results in input order. */
export async function mapOperator(op: Operator, inputs: Iterable<unknown>, opts: MapOptions): Promise<unknown[]> {
  const items = Array.from(inputs);
  if (opts.processes !== undefined) {
    const { mapInPool } = await import("./pool.ts");
    return mapInPool(op, items.map((x) => [x]), opts);
  }
  // One span for the whole fan-out: the items are its children and share its trace, so a map is
  // one trace (and items need no trace id of their own).
  return getTracer().withSpan(`${stateOf(op).name}.map`, (span) => {
    span.attributes.items = items.length;
    const argsOf = (i: number) => [items[i]];
    return fanOut(items.length, (i) => invoke(op, argsOf(i)), opts, (n) => invokeAll(op, n, argsOf));
  });
}

export type StarEntry = readonly [op: (...args: any[]) => Promise<unknown>, args: readonly unknown[]];

/** Different operators with different arguments: `starMap([[opA, [a1, a2]], [opB, [b1]]])`. */
export function starMap(entries: readonly StarEntry[], opts: MapOptions & { settle: true }): Promise<SettledResult<unknown>[]>;
export function starMap(entries: readonly StarEntry[], opts?: MapOptions): Promise<unknown[]>;
export function starMap(entries: readonly StarEntry[], opts: MapOptions = {}): Promise<unknown[]> {
  // Misuse rejects (never throws synchronously from a Promise-returning function).
  if (!Array.isArray(entries)) return Promise.reject(new TypeError(`starMap: expected an array of [operator, [args…]] entries`));
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (!Array.isArray(e) || typeof e[0] !== "function" || !Array.isArray(e[1])) {
      return Promise.reject(new TypeError(`starMap: entry ${i} must be [operator, [args…]], got ${describeEntry(e)}`));
    }
  }
  if (opts.processes !== undefined) {
    return Promise.reject(new TypeError("starMap: { processes } is supported by op.map() only; use op.map(inputs, { processes }) per operator"));
  }
  return fanOut(entries.length, (i) => entries[i]![0](...entries[i]![1]), opts);
}

function describeEntry(e: unknown): string {
  try {
    return JSON.stringify(e)?.slice(0, 80) ?? String(e);
  } catch {
    return String(e); // e.g. a BigInt or a cycle
  }
}
