import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { NboxError } from "../../errors.ts";
import { storedBundleSize } from "../bundle-store.ts";
import { bundleFile, type PlatformContext } from "../context.ts";
import type { RunRow } from "../store/schema.ts";
import type { TokenInfo } from "../store/tokens-repo.ts";
import type { WorkerHub } from "../workers/hub.ts";
import { RuntimeTokenRevokedRepeatedly } from "../workers/runtime-tokens.ts";
import type { Report, ReportWriter } from "../workers/report.ts";
import type { z } from "@hono/zod-openapi";
import { ServingAssignment, WORKER_PROTOCOL, workerContract as r } from "../../contract/routes-worker.ts";
import { router } from "./validation.ts";

/** What the worker routes need besides the context. */
export interface WorkerApiDeps {
  hub: WorkerHub;
  reports: ReportWriter;
  /** Servings placed on this worker. */
  assignments(workerId: string): Promise<Array<z.output<typeof ServingAssignment>>>;
  /** A worker's notes about the servings it hosts (status, requests, logs, events). */
  servingNotes(workerId: string, notes: Report["servings"]): Promise<void>;
  /** Job deployments whose queues BullMQ consumers read. */
  jobDeployments(): Promise<string[]>;
}

function requireWorker(p: TokenInfo): void {
  if (p.scope !== "worker") throw new NboxError("FORBIDDEN", "the worker API needs a worker token", "Create one with `nbx token create --worker`");
}

const claimed = (run: RunRow) => ({
  id: run.id,
  attempt: run.attempt,
  maxRetries: run.maxRetries,
  retryBackoffMs: run.retryBackoffMs,
  timeoutMs: run.timeoutMs,
  workspaceId: run.workspaceId,
  deploymentId: run.deploymentId,
  versionId: run.versionId,
  args: run.args,
  calls: run.calls,
  traceparent: run.traceparent,
  cancelRequested: run.cancelRequested,
});

/** The worker API: registration, heartbeats, claims, reports, bundles — for worker tokens only. */
export function workerRoutes(ctx: PlatformContext, deps: WorkerApiDeps) {
  const { hub } = deps;
  /** The caller's registered worker (its token must be the one it registered with). */
  const worker = async (p: TokenInfo, id: string) => {
    requireWorker(p);
    return hub.get(id, p.id);
  };
  return router()
    .openapi(r["POST /worker/register"], async (c) => {
      const p = c.get("principal");
      requireWorker(p);
      const body = c.req.valid("json");
      if (body.protocol !== WORKER_PROTOCOL) {
        throw new NboxError("BAD_REQUEST", `this worker speaks worker protocol ${body.protocol}, the control plane ${WORKER_PROTOCOL}`, "Run the same nbox version on the control plane and its workers");
      }
      const row = await hub.register({ name: body.name, slots: body.slots, address: body.address ?? null, local: body.local ?? false, tokenId: p.id }, body.sandbox);
      const proxySecret = await ctx.store.workerProxySecret(row.id);
      return c.json({ workerId: row.id, leaseMs: ctx.config.leaseMs, heartbeatMs: hub.heartbeatMs, maxBodyBytes: ctx.config.maxBodyBytes, proxySecret, queue: ctx.queue.workerSettings() }, 200);
    })
    .openapi(r["POST /worker/heartbeat"], async (c) => {
      const { workerId, holding } = c.req.valid("json");
      await worker(c.get("principal"), workerId);
      const leases = await hub.heartbeat(workerId, holding);
      const deployments = ctx.queue.kind === "bullmq" ? await deps.jobDeployments() : undefined;
      return c.json({ leases, servings: await deps.assignments(workerId), ...(deployments ? { deployments } : {}) }, 200);
    })
    .openapi(r["POST /worker/claim"], async (c) => {
      const { workerId, max, exclude, waitMs } = c.req.valid("json");
      await worker(c.get("principal"), workerId);
      const runs = await hub.claim(workerId, max, exclude, Math.min(waitMs, ctx.config.maxWaitMs), c.req.raw.signal);
      return c.json({ runs: runs.map(claimed) }, 200);
    })
    .openapi(r["POST /worker/schedule-fire"], async (c) => {
      const { workerId, scheduleId, deploymentId, firedAt } = c.req.valid("json");
      await worker(c.get("principal"), workerId);
      return c.json({ runId: (await ctx.scheduler?.fired(scheduleId, deploymentId, firedAt)) ?? null }, 200);
    })
    .openapi(r["POST /worker/events"], async (c) => {
      const { workerId, waitMs } = c.req.valid("json");
      await worker(c.get("principal"), workerId);
      const e = await hub.events(workerId, Math.min(waitMs, ctx.config.maxWaitMs), c.req.raw.signal);
      return c.json({ cancel: e.cancel, stop: e.stop, ...(e.servings ? { servings: await deps.assignments(workerId) } : {}) }, 200);
    })
    .openapi(r["POST /worker/report"], async (c) => {
      const report = c.req.valid("json");
      await worker(c.get("principal"), report.workerId);
      const { claimed: runs, ...applied } = await deps.reports.apply(report);
      if (report.servings.length) await deps.servingNotes(report.workerId, report.servings);
      return c.json({ ...applied, claimed: runs.map(claimed) }, 200);
    })
    .openapi(r["GET /worker/versions/{id}"], async (c) => {
      requireWorker(c.get("principal"));
      const v = await ctx.store.getVersion(c.req.valid("param").id);
      if (!v) throw new NboxError("NOT_FOUND", `deployment version ${c.req.valid("param").id} not found`);
      return c.json({ id: v.id, deploymentId: v.deploymentId, contentHash: v.contentHash, manifest: v.manifest as Record<string, unknown> }, 200);
    })
    .openapi(r["GET /worker/bundles/{hash}"], async (c) => {
      requireWorker(c.get("principal"));
      const { hash } = c.req.valid("param");
      // Only checked bundles are recorded; the worker checks the bytes against the hash again.
      const size = await storedBundleSize(ctx, hash);
      if (size === null) throw new NboxError("NOT_FOUND", `bundle ${hash} not found`);
      const body = Readable.toWeb(createReadStream(bundleFile(ctx.paths, hash))) as ReadableStream;
      return new Response(body, { status: 200, headers: { "content-type": "application/gzip", "content-length": String(size) } }) as never;
    })
    .openapi(r["POST /worker/runtime-token"], async (c) => {
      const { workerId, workspaceId } = c.req.valid("json");
      await worker(c.get("principal"), workerId);
      const ws = await ctx.store.getWorkspace(workspaceId);
      if (!ws) throw new NboxError("NOT_FOUND", `workspace ${workspaceId} not found`);
      try {
        return c.json({ token: await hub.runtimeTokens.forWorker(workerId, workspaceId), url: ctx.publicUrl }, 200);
      } catch (err) {
        if (!(err instanceof RuntimeTokenRevokedRepeatedly)) throw err;
        // Revoked again and again (runtime-tokens.ts): nothing minted; when to ask again.
        c.header("retry-after", String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
        throw err.naming(ws.name);
      }
    })
    .openapi(r["POST /worker/leave"], async (c) => {
      const { workerId } = c.req.valid("json");
      await worker(c.get("principal"), workerId);
      await hub.leave(workerId);
      return c.json({ ok: true as const }, 200);
    });
}
