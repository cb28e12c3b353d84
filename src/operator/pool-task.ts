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

const built = new Map<string, Promise<Operator>>();

export async function runPoolTask(task: PoolTask): Promise<PoolReply> {
  try {
    let op = built.get(task.key);
    if (!op) built.set(task.key, (op = materialize(task.locator) as Promise<Operator>));
    const value = await (await op)(...(task.args.map((a) => fromWire(a)) as []));
    return { ok: true, value: toWire(value) };
  } catch (err) {
    return { ok: false, error: toWire(err) };
  }
}
