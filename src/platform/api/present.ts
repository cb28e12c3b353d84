import type { DeploymentInfo, RunInfo } from "../../remote/types.ts";
import type { PlatformContext } from "../context.ts";
import type { FinishedRun } from "../store/runs-repo.ts";
import type { DeploymentRow, DeploymentVersionRow, EventRow, RunRow, WorkspaceRow } from "../store/schema.ts";
import type { ListedSchedule } from "../store/schedules-repo.ts";
import type { TokenInfo } from "../store/tokens-repo.ts";

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : isoTime(ms));
/** A time the store keeps as epoch ms, as the API shows it. */
export const isoTime = (ms: number) => new Date(Number(ms)).toISOString();

/** API views of rows whose times the store keeps as epoch ms: the same fields, times as ISO strings. */
export const presentWorkspace = (w: WorkspaceRow) => ({ ...w, createdAt: isoTime(w.createdAt) });
export const presentToken = (t: TokenInfo) => ({ ...t, createdAt: isoTime(t.createdAt), revokedAt: iso(t.revokedAt) });
export const presentSchedule = (s: ListedSchedule) => ({
  ...s,
  startsAt: iso(s.startsAt),
  endsAt: iso(s.endsAt),
  lastTickAt: iso(s.lastTickAt),
  nextTickAt: iso(s.nextTickAt),
  createdAt: isoTime(s.createdAt),
  updatedAt: isoTime(s.updatedAt),
});
export const presentEvent = (e: EventRow) => ({ ...e, ts: isoTime(e.ts) });

// Names of workspaces/deployments never change for an id: cache them for run listings.
const names = new Map<string, string>();

async function workspaceName(ctx: PlatformContext, id: string): Promise<string> {
  let n = names.get(id);
  if (n === undefined) {
    n = (await ctx.store.getWorkspace(id))?.name ?? id;
    names.set(id, n);
  }
  return n;
}

async function deploymentName(ctx: PlatformContext, id: string): Promise<string> {
  let n = names.get(id);
  if (n === undefined) {
    n = (await ctx.store.getDeployment(undefined, id))?.name ?? id;
    names.set(id, n);
  }
  return n;
}

/** API view of a run (one without args only when the answer leaves them out). */
export async function presentRun(ctx: PlatformContext, r: RunRow, opts?: { withArgs?: boolean }): Promise<RunInfo>;
export async function presentRun(ctx: PlatformContext, r: FinishedRun, opts: { withArgs: false }): Promise<RunInfo>;
export async function presentRun(ctx: PlatformContext, r: FinishedRun, opts: { withArgs?: boolean } = {}): Promise<RunInfo> {
  const run: RunInfo = {
    id: r.id,
    workspace: await workspaceName(ctx, r.workspaceId),
    deployment: await deploymentName(ctx, r.deploymentId),
    deploymentId: r.deploymentId,
    versionId: r.versionId,
    status: r.status,
    attempt: r.attempt,
    maxRetries: r.maxRetries,
    args: "args" in r ? r.args : undefined,
    result: r.result ?? null,
    error: (r.error as RunInfo["error"]) ?? null,
    ...(r.calls != null ? { calls: r.calls } : {}),
    traceId: r.traceId,
    createdAt: iso(r.createdAt)!,
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
  };
  // The caller already has them (the SDK's own calls and fan-outs): not sent back.
  if (opts.withArgs === false) delete run.args;
  return run;
}

/**
 * API view of runs a wait answers with. Rows heard from their finish carry no args: unless the answer
 * leaves them out, those are read in one statement for the whole answer.
 */
export async function presentRuns(ctx: PlatformContext, rows: readonly FinishedRun[], opts: { withArgs?: boolean } = {}): Promise<RunInfo[]> {
  if (opts.withArgs === false) return Promise.all(rows.map((r) => presentRun(ctx, r, { withArgs: false })));
  const missing = rows.flatMap((r) => ("args" in r ? [] : [r.id]));
  const args = missing.length ? await ctx.store.argsOf(missing) : new Map<string, unknown>();
  return Promise.all(rows.map((r) => presentRun(ctx, "args" in r ? r : { ...r, args: args.get(r.id) })));
}

/** API view of a deployment (and its current version). */
export async function presentDeployment(
  ctx: PlatformContext,
  d: DeploymentRow,
  v: DeploymentVersionRow | null,
  serving?: { url: string; token?: string },
): Promise<DeploymentInfo> {
  const manifest = (v?.manifest ?? {}) as { signature?: Record<string, unknown>; resource?: { maxRetries?: number; timeoutMs?: number } };
  // What a caller plans with: remote map batches short calls only for a job that retries none.
  const runSettings =
    d.type === "job" && v ? { maxRetries: manifest.resource?.maxRetries ?? ctx.config.defaultMaxRetries, timeoutMs: manifest.resource?.timeoutMs ?? null } : {};
  return {
    id: d.id,
    workspace: await workspaceName(ctx, d.workspaceId),
    name: d.name,
    type: d.type,
    kind: d.kind,
    versionId: v?.id ?? "",
    contentHash: v?.contentHash ?? "",
    signature: manifest.signature,
    ...runSettings,
    ...(serving ? { servingUrl: serving.url, servingToken: serving.token } : {}),
  };
}
