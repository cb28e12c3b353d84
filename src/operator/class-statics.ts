import type { DryRunResult } from "../bundle/index.ts";
import type { DeployOptions } from "../remote/deploy.ts";
import type { RemoteServing } from "../remote/serving-proxy.ts";
import type { RemoteJob } from "../remote/types.ts";
import type { ForwardClass } from "../remote/deploy-fn.ts";
import type { AnyClass } from "./types.ts";

/**
 * Statics a wrapped class gains: `Bar.deploy(ws, opts)` (a serving by default, built with `init`).
 * Only a class with `forward` deploys as a job (one instance per worker process, `forward` per run).
 */
export function classStatics<C extends AnyClass>(_cls: C) {
  async function deploy(this: C, workspace: string | undefined, opts: DeployOptions & { dryRun: true }): Promise<DryRunResult>;
  async function deploy(this: C & ForwardClass, workspace: string | undefined, opts: DeployOptions & { type: "job" }): Promise<RemoteJob<InstanceType<C>>>;
  async function deploy(this: C, workspace?: string, opts?: DeployOptions & { type?: "serving" }): Promise<RemoteServing<InstanceType<C>>>;
  async function deploy(this: C, workspace?: string, opts?: DeployOptions): Promise<unknown> {
    const remote = await import("../remote/deploy.ts");
    return remote.deploy(this, workspace, opts);
  }
  return { deploy };
}
