import { NboxError } from "../errors.ts";
import type { ApiInput } from "./api-types.ts";
import type { PlatformClient } from "./client.ts";
import type { DeploymentInfo, RunInfo } from "./types.ts";

type TriggerBody = NonNullable<ApiInput<"POST /workspaces/{ws}/deployments/{name}/runs">["body"]>;
/** One run of a batch trigger: an argument list, a reference to an uploaded one, or batched calls. */
export type TriggerEntry = NonNullable<TriggerBody["batch"]>[number];
const TRIGGER = "POST /workspaces/{ws}/deployments/{name}/runs" as const;
const target = (d: Pick<DeploymentInfo, "workspace" | "name">) => ({ ws: d.workspace, name: d.name });

/** Trigger one run of a job (`{ args }` or `{ argsRef }`, optionally `wait`). */
export async function triggerRun(client: PlatformClient, d: Pick<DeploymentInfo, "workspace" | "name">, body: Omit<TriggerBody, "batch">): Promise<RunInfo> {
  const r = await client.call(TRIGGER, { params: target(d), body });
  if (!("run" in r)) throw new NboxError("INTERNAL", "the platform answered a batch to a single trigger");
  return r.run;
}

/** Trigger one run per entry, in one request (all or none are queued). */
export async function triggerRuns(client: PlatformClient, d: Pick<DeploymentInfo, "workspace" | "name">, body: TriggerBody & { batch: NonNullable<TriggerBody["batch"]> }): Promise<RunInfo[]> {
  const r = await client.call(TRIGGER, { params: target(d), body });
  if (!("runs" in r)) throw new NboxError("INTERNAL", "the platform answered one run to a batch trigger");
  return r.runs;
}
