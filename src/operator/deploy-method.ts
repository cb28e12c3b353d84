// Adds `deploy()` to every Operator. Kept apart from operator.ts so local-only use never
// loads the bundle/HTTP layer: the remote code is imported on first deploy.
import { Operator } from "./operator.ts";
import type { DeployOptions } from "../remote/deploy.ts";
import type { RemoteJob } from "../remote/types.ts";
import type { RemoteServing } from "../remote/serving-proxy.ts";
import type { DryRunResult } from "../bundle/index.ts";

declare module "./operator.ts" {
  interface Operator {
    /**
     * Pack this operator's project and run it on the platform (a job by default), in `workspace`:
     * by default the token's own workspace (a workspace token), else "default".
     * @example const fooRemote = await foo.deploy("my-workspace"); await fooRemote(10)
     */
    deploy<T extends this>(this: T, workspace: string | undefined, opts: DeployOptions & { dryRun: true }): Promise<DryRunResult>;
    deploy<T extends this>(this: T, workspace: string | undefined, opts: DeployOptions & { type: "serving" }): Promise<RemoteServing<T>>;
    deploy<T extends this>(this: T, workspace?: string, opts?: DeployOptions): Promise<RemoteJob<T>>;
  }
}

Object.defineProperty(Operator.prototype, "deploy", {
  enumerable: false,
  writable: true,
  configurable: true,
  value: async function deploy(this: Operator, workspace?: string, opts?: DeployOptions) {
    const { deploy } = await import("../remote/deploy.ts");
    return deploy(this, workspace, opts);
  },
});
