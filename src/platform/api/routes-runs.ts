import { Hono } from "hono";
import { NboxError } from "../../errors.ts";
import type { PlatformContext } from "../context.ts";
import { RUN_STATUSES, type RunRow, type RunStatus } from "../store/schema.ts";
import { checkWorkspaceAccess, resolveWorkspace } from "./auth.ts";
import type { ApiEnv } from "./env.ts";
import { presentRun } from "./present.ts";
import { isTerminal, waitForAny, waitForRun } from "./wait.ts";
import { jsonBody } from "./errors.ts";

// One long-poll may watch this many runs (remote map keeps its window below it).
const MAX_WAIT_IDS = 5_000;

function intParam(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new NboxError("BAD_REQUEST", `query parameter ${name} must be an integer, got ${JSON.stringify(v)}`);
  return n;
}

/** Runs: list, read, long-poll, logs, spans, cancel, retry. */
export function runRoutes(ctx: PlatformContext) {
  const load = async (c: { get(k: "principal"): any; req: { param(k: "id"): string } }): Promise<RunRow> => {
    const run = await ctx.store.getRun(c.req.param("id"));
    if (!run) throw new NboxError("NOT_FOUND", `run ${c.req.param("id")} not found`);
    checkWorkspaceAccess(c.get("principal"), run.workspaceId);
    return run;
  };
  return new Hono<ApiEnv>()
    .get("/runs", async (c) => {
      const p = c.get("principal");
      const wsName = c.req.query("workspace");
      const ws = wsName ? await resolveWorkspace(ctx, p, wsName) : undefined;
      if (!ws && p.scope !== "admin") throw new NboxError("BAD_REQUEST", "workspace tokens must pass ?workspace=<name>");
      const status = c.req.query("status");
      if (status && !(RUN_STATUSES as readonly string[]).includes(status)) {
        throw new NboxError("BAD_REQUEST", `unknown status "${status}"`, `Use one of ${RUN_STATUSES.join(", ")}`);
      }
      let deploymentId: string | undefined;
      const dep = c.req.query("deployment");
      if (dep) deploymentId = (await ctx.store.getDeployment(ws?.id, dep))?.id ?? "none";
      const rows = await ctx.store.listRuns({
        workspaceId: ws?.id,
        deploymentId,
        status: status as RunStatus | undefined,
        limit: intParam(c.req.query("limit"), "limit", 50),
        before: c.req.query("before"),
      });
      return c.json({ runs: await Promise.all(rows.map((r) => presentRun(ctx, r))) });
    })
    .post("/runs/wait", async (c) => {
      const body = await jsonBody<{ ids?: unknown; timeoutMs?: unknown }>(c);
      const ids = body.ids;
      if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_WAIT_IDS || !ids.every((x) => typeof x === "string")) {
        throw new NboxError("BAD_REQUEST", `ids must be a non-empty array of at most ${MAX_WAIT_IDS} run ids`);
      }
      const timeout = typeof body.timeoutMs === "number" ? body.timeoutMs : ctx.config.maxWaitMs;
      const ms = Math.min(Math.max(0, timeout), ctx.config.maxWaitMs);
      const p = c.get("principal");
      const done = await waitForAny(ctx, ids as string[], ms, c.req.raw.signal);
      for (const r of done) checkWorkspaceAccess(p, r.workspaceId);
      return c.json({ runs: await Promise.all(done.map((r) => presentRun(ctx, r))) });
    })
    .get("/runs/:id", async (c) => c.json({ run: await presentRun(ctx, await load(c)) }))
    .get("/runs/:id/wait", async (c) => {
      await load(c);
      const ms = Math.min(Math.max(0, intParam(c.req.query("timeoutMs"), "timeoutMs", ctx.config.maxWaitMs)), ctx.config.maxWaitMs);
      return c.json({ run: await presentRun(ctx, await waitForRun(ctx, c.req.param("id"), ms, c.req.raw.signal)) });
    })
    .get("/runs/:id/logs", async (c) => {
      const run = await load(c);
      const after = intParam(c.req.query("after"), "after", -1);
      let logs = await ctx.store.getLogs(run.id, after >= 0 ? { afterSeq: after } : {});
      let done = isTerminal(run);
      if (c.req.query("follow") && logs.length === 0 && !done) {
        // Follow: hold the request until new lines or the end of the run.
        await Promise.race([ctx.events.waitFor("logs", run.id, 10_000, c.req.raw.signal), ctx.events.waitFor("finished", run.id, 10_000, c.req.raw.signal)]);
        logs = await ctx.store.getLogs(run.id, after >= 0 ? { afterSeq: after } : {});
        done = isTerminal((await ctx.store.getRun(run.id))!);
      }
      return c.json({
        logs: logs.map((l) => ({ seq: l.seq, stream: l.stream, line: l.line, ts: new Date(Number(l.ts)).toISOString() })),
        done,
      });
    })
    .get("/runs/:id/spans", async (c) => {
      const run = await load(c);
      await ctx.flushRunOutput?.();
      const rows = await ctx.store.getSpans({ runId: run.id });
      return c.json({
        spans: rows.map((s) => ({ traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId, op: s.op, name: s.name, start: s.start, end: s.end, status: s.status, ...(s.error ? { error: s.error } : {}), attributes: s.attributes ?? {} })),
      });
    })
    .post("/runs/:id/cancel", async (c) => {
      const run = await load(c);
      const after = await ctx.store.requestCancel(run.id);
      if (after && after.status === "running") ctx.events.emit("cancel", run.id);
      if (after && isTerminal(after)) ctx.events.emit("finished", run.id);
      // ?timeoutMs=N: answer once the run has stopped (or as it is after N ms), so callers see the final status.
      const ms = Math.min(Math.max(0, intParam(c.req.query("timeoutMs"), "timeoutMs", 0)), ctx.config.maxWaitMs);
      const final = ms > 0 ? await waitForRun(ctx, run.id, ms, c.req.raw.signal) : (await ctx.store.getRun(run.id))!;
      return c.json({ run: await presentRun(ctx, final) });
    })
    .post("/runs/:id/retry", async (c) => {
      const run = await load(c);
      const again = await ctx.store.createRun({
        workspaceId: run.workspaceId,
        deploymentId: run.deploymentId,
        versionId: run.versionId,
        args: run.args,
        maxRetries: run.maxRetries,
        timeoutMs: run.timeoutMs,
        retryBackoffMs: run.retryBackoffMs,
      });
      ctx.events.emit("queued", run.deploymentId);
      return c.json({ run: await presentRun(ctx, again) }, 201);
    });
}
