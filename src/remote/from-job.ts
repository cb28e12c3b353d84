import { connect, type ClientOptions } from "./client.ts";
import { remoteJob } from "./job-proxy.ts";
import type { DeploymentInfo, RemoteJob } from "./types.ts";

/**
 * Latch onto a deployed job by name (in a workspace) or by deployment id.
 * @example const foo = await fromJob<typeof fooOp>("foo", { workspace: "ws" }); await foo(10)
 */
export async function fromJob<T = (...args: any[]) => unknown>(nameOrId: string, opts: ClientOptions & { workspace?: string } = {}): Promise<RemoteJob<T>> {
  const client = connect(opts);
  const ws = opts.workspace ?? "default";
  const { deployment } = await client.request<{ deployment: DeploymentInfo }>(
    "GET",
    `/workspaces/${encodeURIComponent(ws)}/deployments/${encodeURIComponent(nameOrId)}`,
  );
  return remoteJob<T>(client, deployment);
}
