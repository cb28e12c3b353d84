// `deploy(target, workspace, opts)` as a free function. TypeScript cannot add statics to a class
// through a decorator, so `@operator() class Bar` users call `deploy(Bar, "ws")` for a typed handle
// (`Bar.deploy` works too at run time). The bundle layer is loaded on first use.
import type { DryRunResult } from "../bundle/index.ts";
import type { Operator } from "../operator/operator.ts";
import type { AnyClass, AnyFn } from "../operator/types.ts";
import type { DeployOptions } from "./deploy.ts";
import type { RemoteServing } from "./serving-proxy.ts";
import type { RemoteJob } from "./types.ts";

/** A class whose instances have `forward`: the only kind of class that can run as a job. */
export type ForwardClass = abstract new (...args: any[]) => { forward: AnyFn };

/**
 * Deploy an operator (a job by default) or a wrapped class (a serving by default).
 * A class deployed with `{ type: "job" }` must have `forward`: each worker process builds one
 * instance with `init`, and every run calls `forward(...args)`.
 * @example const barRemote = await deploy(Bar, "my-workspace"); await barRemote.inc()
 */
export function deploy(target: Operator | AnyClass, workspace: string | undefined, opts: DeployOptions & { dryRun: true }): Promise<DryRunResult>;
export function deploy<C extends ForwardClass>(cls: C, workspace: string | undefined, opts: DeployOptions & { type: "job" }): Promise<RemoteJob<InstanceType<C>>>;
export function deploy<C extends AnyClass>(cls: C, workspace?: string, opts?: DeployOptions & { type?: "serving" }): Promise<RemoteServing<InstanceType<C>>>;
export function deploy<T extends Operator>(op: T, workspace: string | undefined, opts: DeployOptions & { type: "serving" }): Promise<RemoteServing<T>>;
export function deploy<T extends Operator>(op: T, workspace?: string, opts?: DeployOptions): Promise<RemoteJob<T>>;
export async function deploy(target: Operator | AnyClass, workspace?: string, opts?: DeployOptions): Promise<unknown> {
  const impl = await import("./deploy.ts");
  return impl.deploy(target, workspace, opts);
}
