import { fromWire, toWire } from "../codec/index.ts";
import type { OperatorLocator } from "./locate.ts";
import { materialize } from "./materialize.ts";
import type { Operator } from "./operator.ts";

export interface PoolTask {
  locator: OperatorLocator;
  key: string;
  args: unknown[];
}
export type PoolReply = { ok: true; value: unknown } | { ok: false; error: unknown };

// Rebuilt operators of this thread by locator key; threads are reused across map calls, so
// keep only the most recent few (Map iteration order = insertion order → oldest first).
const MAX_BUILT = 32;
const built = new Map<string, Promise<Operator>>();

export async function runPoolTask(task: PoolTask): Promise<PoolReply> {
  try {
    let op = built.get(task.key);
    if (!op) {
      op = materialize(task.locator) as Promise<Operator>;
      built.set(task.key, op);
      // A failed rebuild is not cached: the next task retries it.
      op.catch(() => built.get(task.key) === op && built.delete(task.key));
      if (built.size > MAX_BUILT) built.delete(built.keys().next().value!);
    }
    const value = await (await op)(...(task.args.map((a) => fromWire(a)) as []));
    return { ok: true, value: toWire(value) };
  } catch (err) {
    return { ok: false, error: toWire(err) };
  }
}
