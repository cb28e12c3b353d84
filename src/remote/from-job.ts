import type { NboxError } from "../errors.ts";
import { connect, type ClientOptions } from "./client.ts";
import { remoteJob } from "./job-proxy.ts";
import type { DeploymentInfo, RemoteJob } from "./types.ts";

const DEPLOYMENT_ID = /^dep_[0-9a-z]+$/;

/**
 * Latch onto a deployed job by name (in a workspace: by default the token's own, else "default")
 * or by deployment id.
 * @example const foo = await fromJob<typeof fooOp>("foo", { workspace: "ws" }); await foo(10)
 */
export async function fromJob<T = (...args: any[]) => unknown>(nameOrId: string, opts: ClientOptions & { workspace?: string } = {}): Promise<RemoteJob<T>> {
  const client = connect(opts);
  // A deployment id needs no workspace (`fromJob(id)`); a name is looked up in one.
  const byName = async () =>
    client.call("GET /workspaces/{ws}/deployments/{name}", { params: { ws: opts.workspace ?? (await client.defaultWorkspace()), name: nameOrId } });
  const { deployment } =
    opts.workspace === undefined && DEPLOYMENT_ID.test(nameOrId)
      ? await client.call("GET /deployments/{id}", { params: { id: nameOrId } }).catch((err) => {
          if ((err as NboxError).code === "NOT_FOUND") return byName().catch(() => Promise.reject(err));
          throw err;
        })
      : await byName();
  return remoteJob<T>(client, deployment);
}
