import { NboxError } from "../../errors.ts";
import type { PlatformContext } from "../context.ts";
import type { FinishedRun } from "../store/runs-repo.ts";
import type { RunRow } from "../store/schema.ts";
import type { TokenInfo } from "../store/tokens-repo.ts";
import { listedWorkspaceId } from "./auth.ts";
import { runContract as r } from "../../contract/routes-runs.ts";
import { presentRun, presentRuns } from "./present.ts";
import { isTerminal, waitForRun } from "./wait.ts";
import { waitForAny } from "./wait-any.ts";
import { router } from "./validation.ts";

/** An integer query parameter (already checked to be one), or the fallback when absent. */
const int = (v: string | undefined, fallback: number) => (v === undefined || v === "" ? fallback : Number(v));

/** Runs: list, read, long-poll, logs, spans, cancel, retry. */
export function runRoutes(ctx: PlatformContext) {
  // Another workspace's run answers exactly like a missing one: a token learns nothing about runs
  // outside its workspace, not even that they exist or when they finish.
  const visible = <R extends FinishedRun>(p: TokenInfo, run: R | null | undefined): run is R => !!run && (p.scope === "admin" || run.workspaceId === p.workspaceId);
  const load = async (p: TokenInfo, id: string): Promise<RunRow> => {
    const run = await ctx.store.getRun(id);
    if (!visible(p, run)) throw new NboxError("NOT_FOUND", `run ${id} not found`, "List the runs this token can see with `nbx runs` (GET /api/v1/runs)");
    return run;
  };
  const capWait = (ms: number) => Math.min(Math.max(0, ms), ctx.config.maxWaitMs);
  return router()
    .openapi(r["GET /runs"], async (c) => {
      const p = c.get("principal");
      const q = c.req.valid("query");
      const workspaceId = await listedWorkspaceId(ctx, p, q.workspace);
      const deploymentId = q.deployment ? ((await ctx.store.getDeployment(workspaceId, q.deployment))?.id ?? "none") : undefined;
      const rows = await ctx.store.listRuns({ workspaceId, deploymentId, status: q.status, limit: int(q.limit, 50), before: q.before });
      return c.json({ runs: await Promise.all(rows.map((row) => presentRun(ctx, row))) }, 200);
    })
    .openapi(r["POST /runs/wait"], async (c) => {
      const { ids, timeoutMs, cursor, added, withArgs } = c.req.valid("json");
      const p = c.get("principal");
      // Only the caller's own runs are answered; ids of other workspaces are treated as unknown ones.
      if (!ids && !cursor) throw new NboxError("BAD_REQUEST", "a poll names the runs to watch in `ids`", "Pass `ids`, or the `cursor` of your previous poll");
      const done = await waitForAny(ctx, ids, capWait(timeoutMs ?? ctx.config.maxWaitMs), { signal: c.req.raw.signal, owner: p.id, visible: (run) => visible(p, run), cursor, added });
      if (done.watchLost) return c.json({ runs: [], cursor: "", watchLost: true as const }, 200);
      return c.json({ runs: await presentRuns(ctx, done.runs, { withArgs }), cursor: done.cursor }, 200);
    })
    .openapi(r["GET /runs/{id}"], async (c) => c.json({ run: await presentRun(ctx, await load(c.get("principal"), c.req.valid("param").id)) }, 200))
    .openapi(r["GET /runs/{id}/wait"], async (c) => {
      const { id } = c.req.valid("param");
      await load(c.get("principal"), id);
      const q = c.req.valid("query");
      const ms = capWait(int(q.timeoutMs, ctx.config.maxWaitMs));
      const [run] = await presentRuns(ctx, [await waitForRun(ctx, id, ms, c.req.raw.signal)], { withArgs: q.withArgs !== "false" });
      return c.json({ run: run! }, 200);
    })
    .openapi(r["GET /runs/{id}/logs"], async (c) => {
      const run = await load(c.get("principal"), c.req.valid("param").id);
      const q = c.req.valid("query");
      const after = int(q.after, -1);
      let logs = await ctx.store.getLogs(run.id, after >= 0 ? { afterSeq: after } : {});
      let done = isTerminal(run);
      if (q.follow && logs.length === 0 && !done) {
        // Follow: hold the request until new lines or the end of the run.
        await Promise.race([ctx.events.waitFor("logs", run.id, 10_000, c.req.raw.signal), ctx.events.waitFor("finished", run.id, 10_000, c.req.raw.signal)]);
        logs = await ctx.store.getLogs(run.id, after >= 0 ? { afterSeq: after } : {});
        done = isTerminal((await ctx.store.getRun(run.id))!);
      }
      return c.json({ logs: logs.map((l) => ({ seq: l.seq, stream: l.stream, line: l.line, ts: new Date(Number(l.ts)).toISOString() })), done }, 200);
    })
    .openapi(r["GET /runs/{id}/spans"], async (c) => {
      const run = await load(c.get("principal"), c.req.valid("param").id);
      await ctx.flushRunOutput?.();
      const rows = await ctx.store.getSpans({ runId: run.id });
      return c.json(
        {
          spans: rows.map((s) => ({ traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId, op: s.op, name: s.name, start: s.start, end: s.end, status: s.status, ...(s.error ? { error: s.error } : {}), attributes: s.attributes ?? {} })),
        },
        200,
      );
    })
    .openapi(r["POST /runs/{id}/cancel"], async (c) => {
      const run = await load(c.get("principal"), c.req.valid("param").id);
      const wasQueued = run.status === "queued";
      const after = await ctx.store.requestCancel(run.id);
      if (after && after.status === "running") ctx.events.emit("cancel", run.id);
      if (after && wasQueued && after.status === "cancelled") await ctx.queue.cancelled(after);
      if (after && isTerminal(after)) ctx.events.emit("finished", run.id);
      // ?timeoutMs=N: answer once the run has stopped (or as it is after N ms), so callers see the final status.
      const q = c.req.valid("query");
      const ms = capWait(int(q.timeoutMs, 0));
      const final = ms > 0 ? await waitForRun(ctx, run.id, ms, c.req.raw.signal) : (await ctx.store.getRun(run.id))!;
      const [shown] = await presentRuns(ctx, [final], { withArgs: q.withArgs !== "false" });
      return c.json({ run: shown! }, 200);
    })
    .openapi(r["POST /runs/{id}/retry"], async (c) => {
      const run = await load(c.get("principal"), c.req.valid("param").id);
      const { call } = (c.req.valid("json") ?? {}) as { call?: number };
      const one = call === undefined ? undefined : argsOfCall(run, call);
      const again = await ctx.store.createRun({
        workspaceId: run.workspaceId,
        deploymentId: run.deploymentId,
        versionId: run.versionId,
        ...(one ? { args: one } : { args: run.args, calls: run.calls }),
        timeoutMs: run.timeoutMs,
        maxRetries: run.maxRetries,
        retryBackoffMs: run.retryBackoffMs,
      });
      await ctx.queue.enqueue([again]);
      return c.json({ run: await presentRun(ctx, again) }, 201);
    });
}

/** The argument list of call `call` of batched run `run`. */
function argsOfCall(run: RunRow, call: number): unknown {
  if (run.calls == null) throw new NboxError("BAD_REQUEST", `call: run ${run.id} carries one call, not batched calls`, "Retry it without { call }");
  if (call >= run.calls) throw new NboxError("BAD_REQUEST", `call: run ${run.id} carries ${run.calls} calls (0 to ${run.calls - 1}), not call ${call}`);
  return (run.args as unknown[])[call];
}
