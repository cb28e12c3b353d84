import { NboxError } from "../../errors.ts";
import { parseTraceParent } from "../../trace/traceparent.ts";
import { canonicalJson } from "../../bundle/hash.ts";
import { storedManifest } from "../bundle-store.ts";
import type { PlatformContext } from "../context.ts";
import { parseManifest } from "../deployments.ts";
import type { DeploymentRow } from "../store/schema.ts";
import { checkWorkspaceAccess, resolveWorkspace } from "./auth.ts";
import { deploymentContract as r } from "../../contract/routes-deployments.ts";
import { router } from "./validation.ts";
import { isArgsRef, readArgsRef } from "./routes-blobs.ts";
import { JobArgs } from "./job-args.ts";
import { presentDeployment, presentRun, presentRuns } from "./present.ts";
import { waitForRun } from "./wait.ts";

const isCalls = (x: unknown): x is { calls: unknown[] } => x !== null && typeof x === "object" && Array.isArray((x as { calls?: unknown }).calls);
import { createAndQueue } from "../queue/create-and-queue.ts";
import { concurrencyOf } from "../../lib/manifest-concurrency.ts";
import { scheduleSettings } from "../scheduler.ts";
import type { ServingHost } from "../router/serving-control.ts";

export async function findDeployment(ctx: PlatformContext, workspaceId: string, wsName: string, nameOrId: string): Promise<DeploymentRow> {
  const d = await ctx.store.getDeployment(workspaceId, nameOrId);
  if (!d) throw new NboxError("NOT_FOUND", `deployment "${nameOrId}" not found in workspace "${wsName}"`, "List them with `nbx deployments`, or deploy it first");
  return d;
}

/** Deployments (versions of uploaded bundles) and run triggers. */
export function deploymentRoutes(ctx: PlatformContext, servings: ServingHost | undefined) {
  const jobArgs = new JobArgs();
  const servingOf = async (d: DeploymentRow) => (d.type === "serving" && servings ? servings.endpoint(d) : undefined);
  return router()
    .openapi(r["GET /deployments/{id}"], async (c) => {
      // By id alone (fromJob(id) without a workspace); a workspace token sees only its own.
      const { id } = c.req.valid("param");
      const d = await ctx.store.getDeployment(undefined, id);
      if (!d) throw new NboxError("NOT_FOUND", `deployment ${id} not found`, "Look a deployment up by name with its workspace: fromJob(name, { workspace })");
      checkWorkspaceAccess(c.get("principal"), d.workspaceId);
      const v = d.currentVersionId ? await ctx.store.getVersion(d.currentVersionId) : null;
      return c.json({ deployment: await presentDeployment(ctx, d, v, await servingOf(d)) }, 200);
    })
    .openapi(r["GET /workspaces/{ws}/deployments"], async (c) => {
      const ws = await resolveWorkspace(ctx, c.get("principal"), c.req.valid("param").ws);
      const rows = await ctx.store.listDeployments(ws.id);
      const out = [];
      for (const d of rows) out.push(await presentDeployment(ctx, d, d.currentVersionId ? await ctx.store.getVersion(d.currentVersionId) : null, await servingOf(d)));
      return c.json({ deployments: out }, 200);
    })
    .openapi(r["GET /workspaces/{ws}/deployments/{name}"], async (c) => {
      const params = c.req.valid("param");
      const ws = await resolveWorkspace(ctx, c.get("principal"), params.ws);
      const d = await findDeployment(ctx, ws.id, ws.name, params.name);
      const v = d.currentVersionId ? await ctx.store.getVersion(d.currentVersionId) : null;
      return c.json({ deployment: await presentDeployment(ctx, d, v, await servingOf(d)) }, 200);
    })
    .openapi(r["POST /workspaces/{ws}/deployments"], async (c) => {
      const manifest = parseManifest(c.req.valid("json").manifest);
      const ws = await resolveWorkspace(ctx, c.get("principal"), c.req.valid("param").ws, { create: true });
      // Only a verified upload counts, and the version runs the manifest inside it: one sent alongside
      // that differs (another entry, export or init under the same hash) is refused, not trusted.
      const stored = await storedManifest(ctx, manifest.contentHash);
      if (canonicalJson(stored.manifest) !== canonicalJson(manifest)) {
        throw new NboxError("BAD_REQUEST", `the manifest does not match the nbox.json inside bundle ${manifest.contentHash}`, "Register the manifest the bundle was packed with (deploy() does this)");
      }
      // A bad cron is the caller's mistake: refuse it before a deployment version exists.
      if (manifest.schedule) scheduleSettings(manifest.schedule as Record<string, unknown>);
      ctx.lookups.forgetDeployments();
      const { deployment, version, created } = await ctx.store.upsertDeploymentVersion({
        workspaceId: ws.id,
        name: manifest.name,
        type: manifest.type,
        kind: manifest.kind,
        contentHash: manifest.contentHash,
        lockfileHash: manifest.lockfileHash,
        manifest: manifest as unknown as Record<string, unknown>,
        bundleBytes: stored.bytes,
      });
      if (deployment.type === "job") await ctx.queue.setConcurrency(deployment.id, concurrencyOf(manifest));
      // The manifest is the whole desired state: a version deployed without a schedule stops the old one.
      if (manifest.schedule) await ctx.scheduler?.upsert(deployment, manifest.schedule);
      else if (deployment.type === "job") await ctx.scheduler?.remove(deployment);
      let serving: { url: string; token?: string } | undefined;
      if (deployment.type === "serving") {
        if (!servings) throw new NboxError("UNAVAILABLE", "this platform node hosts no servings");
        serving = await servings.deploy(deployment, version);
      }
      return c.json({ deployment: await presentDeployment(ctx, deployment, version, serving), created }, created ? 201 : 200);
    })
    .openapi(r["POST /workspaces/{ws}/deployments/{name}/runs"], async (c) => {
      const params = c.req.valid("param");
      const ws = await resolveWorkspace(ctx, c.get("principal"), params.ws);
      const { deployment: d, version: v } = await ctx.lookups.currentVersion(ws.id, params.name, () => findDeployment(ctx, ws.id, ws.name, params.name));
      if (d.type !== "job") throw new NboxError("BAD_REQUEST", `"${d.name}" is a serving, not a job`, "Call its methods at its URL (nbx servings / fromServing)");
      const body = c.req.valid("json");
      const manifest = v.manifest as { resource?: Record<string, number> };
      const r = manifest.resource ?? {};
      const maxRetries = r.maxRetries ?? ctx.config.defaultMaxRetries;
      const timeoutMs = r.timeoutMs ?? null;
      // Check every argument list before queueing anything: a bad item never leaves half a batch behind.
      const check = (wire: unknown, what: string) => jobArgs.check(v, d.name, wire, what);
      const batch = body.batch;
      // An argument list may come by reference (uploaded to /blobs because it is above the body limit).
      const deref = async (x: unknown) => (isArgsRef(x) ? readArgsRef(ctx, x) : x);
      const runArgs = async (item: unknown, what: string): Promise<{ args: unknown; calls?: number }> => {
        if (!isCalls(item)) return { args: await check(await deref(item), what) };
        // Batched calls have one outcome each and are not retried one by one: only for a job without retries.
        if (maxRetries > 0) {
          throw new NboxError("BAD_REQUEST", `${what}: "${d.name}" retries failed runs (${maxRetries}), so its calls cannot be batched into one run`, "Send each call as its own run (an argument list, not { calls })");
        }
        return { args: await Promise.all(item.calls.map((w, j) => check(w, `${what}.calls[${j}]`))), calls: item.calls.length };
      };
      const items = Array.isArray(batch)
        ? await Promise.all(batch.map((w, i) => runArgs(w, `batch[${i}]`)))
        : [await runArgs(body.argsRef !== undefined ? { argsRef: body.argsRef } : body.args, "args")];
      const header = body.traceparent ?? c.req.header("traceparent");
      const parent = parseTraceParent(header);
      const runs = await createAndQueue(
        ctx,
        d.id,
        items.map(({ args, calls }) => ({
          workspaceId: ws.id,
          deploymentId: d.id,
          versionId: v.id,
          args,
          ...(calls !== undefined ? { calls } : {}),
          timeoutMs,
          maxRetries,
          retryBackoffMs: r.retryBackoffMs ?? ctx.config.defaultRetryBackoffMs,
          ...(parent ? { traceId: parent.traceId, parentSpanId: parent.spanId, traceparent: header } : {}),
        })),
      );
      const shown = { withArgs: body.withArgs ?? true };
      if (Array.isArray(batch)) return c.json({ runs: await Promise.all(runs.map((run) => presentRun(ctx, run, shown))) }, 201);
      // `wait: true` saves the caller a round trip for short calls: answer when done (or still running after a while).
      const latest = body.wait ? await waitForRun(ctx, runs[0]!.id, Math.min(ctx.config.maxWaitMs, 20_000), c.req.raw.signal, runs[0]) : runs[0]!;
      const [run] = await presentRuns(ctx, [latest], shown);
      return c.json({ run: run! }, 201);
    });
}

