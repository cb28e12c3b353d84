// What the report tests share: a report with every part empty but those given, runs held by a
// worker on a real store, and a ReportWriter as the control plane makes one.
import type { PlatformContext } from "../../../src/platform/context.ts";
import { resolveConfig, type PlatformConfig } from "../../../src/platform/config.ts";
import { StoreQueue } from "../../../src/platform/queue/run-queue.ts";
import { RunEvents } from "../../../src/platform/run-events.ts";
import type { Store } from "../../../src/platform/store/index.ts";
import type { RunRow } from "../../../src/platform/store/schema.ts";
import { ReportWriter, type Report } from "../../../src/platform/workers/report.ts";

export const report = (r: Partial<Report>): Report => ({ workerId: "w1", started: [], logs: [], spans: [], finished: [], requeued: [], servings: [], claim: [], ...r });

/** A job deployment in workspace `name`; `held(n, worker)` makes n runs of it claimed by that worker. */
export async function heldRuns(store: Store, name: string): Promise<(n: number, workerId?: string) => Promise<RunRow[]>> {
  const ws = await store.ensureWorkspace(name);
  const { deployment, version } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name: "job", type: "job", kind: "fn", contentHash: `h-${name}`, lockfileHash: null, manifest: {}, bundleBytes: 1 });
  return async (n, workerId = "w1") => {
    const created = await store.createRuns(Array.from({ length: n }, (_, i) => ({ workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args: [i] })));
    return store.claimRuns(created.map((r) => r.id), workerId);
  };
}

/** A ReportWriter on `store` with its own events and embedded queue, `config` over the defaults. */
export function reportWriter(store: Store, config: Partial<PlatformConfig> = {}): { writer: ReportWriter; events: RunEvents } {
  const events = new RunEvents();
  const ctx = { config: resolveConfig({ leaseMs: 20_000, ...config }), store, events, queue: new StoreQueue(events) } as unknown as PlatformContext;
  return { writer: new ReportWriter(ctx), events };
}
