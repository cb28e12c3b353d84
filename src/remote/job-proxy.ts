import { fanOut } from "../operator/fan-out.ts";
import { getTracer } from "../trace/tracer.ts";
import type { PlatformClient } from "./client.ts";
import { outcome, Run } from "./run.ts";
import { BatchPlan } from "./batch-plan.ts";
import { RunBatcher, type CallRef } from "./run-batcher.ts";
import { argsPayload } from "./args-transport.ts";
import { triggerRun } from "./trigger.ts";
import type { DeploymentInfo, RemoteJob, RemoteMapOptions } from "./types.ts";

// Default items in flight for remote map: enough runs to keep every worker slot busy — a thousand
// when each item is a run, ten times as many items when short calls travel several to a run.
const REMOTE_MAP_CONCURRENCY = 1_000;
const BATCHED_MAP_CONCURRENCY = 10_000;

/** Build the callable remote handle of a deployed job. */
export function remoteJob<T>(client: PlatformClient, deployment: DeploymentInfo): RemoteJob<T> {
  const tracer = getTracer();

  const trigger = async (...args: unknown[]): Promise<Run<any>> => {
    const body = { ...(await argsPayload(client, args)), traceparent: tracer.traceparent(), withArgs: false };
    const run = await triggerRun(client, deployment, body);
    return new Run(client, run.id);
  };
  // Trigger and wait inside one client span, so the run's spans nest under the caller's call.
  const call = (...args: unknown[]) =>
    tracer.withSpan(`remote:${deployment.name}`, async (span) => {
      const body = { ...(await argsPayload(client, args)), traceparent: tracer.traceparent(), wait: true, withArgs: false };
      const run = await triggerRun(client, deployment, body);
      span.attributes.runId = run.id;
      return run.status === "queued" || run.status === "running" ? new Run(client, run.id).result() : outcome(run);
    });

  // What this handle learned about its calls' length carries over from one map to the next.
  const plan = new BatchPlan(deployment);
  const map = async (inputs: Iterable<unknown>, opts: RemoteMapOptions = {}) => {
    const items = Array.from(inputs);
    const refs: (CallRef | undefined)[] = new Array(items.length);
    const settled: boolean[] = new Array(items.length).fill(false);
    const batcher = new RunBatcher(client, deployment, () => tracer.traceparent(), plan);
    try {
      const results = await fanOut(
        items.length,
        async (i) => {
          const ref = await batcher.trigger([items[i]]);
          refs[i] = ref;
          try {
            return await batcher.result(ref);
          } finally {
            settled[i] = true;
          }
        },
        { ...opts, concurrency: opts.concurrency ?? (plan.batching ? BATCHED_MAP_CONCURRENCY : REMOTE_MAP_CONCURRENCY) },
      );
      return opts.settle ? results.map((r, i) => ({ ...r, runId: refs[i]?.runId, ...(refs[i]?.call !== undefined ? { call: refs[i]!.call } : {}) })) : results;
    } catch (err) {
      // Stopped early (abort, first error, ratio): cancel the runs still going, best effort.
      batcher.abandon();
      const going = new Set(refs.flatMap((ref, i) => (ref && !settled[i] ? [ref.runId] : [])));
      for (const id of going) void client.call("POST /runs/{id}/cancel", { params: { id } }).catch(() => {});
      throw err;
    }
  };

  return Object.assign(call, { deployment, trigger, map }) as unknown as RemoteJob<T>;
}
