// A run the loop starts beyond the process slots (while calls are short it starts a few more than
// the slots: calls that wait behind a running one) must never wait for a process of its own: no slot
// frees for it until a call ends, and that call may have turned long meanwhile (a cold start, a
// version prepared slowly on a busy machine, a long call). Such a run was held here, `running` and
// never started, for as long as the call ahead ran (a 120 s sleeper: two minutes), while another
// worker's slots were free. It must go back to the queue untouched within about a short call.
// Real RunLoop, RunExecutor and ProcessPool (one slot, real child processes); the control plane,
// the versions and the report are fakes.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { toWire } from "../../src/codec/index.ts";
import type { ControlPlane } from "../../src/worker/control-plane.ts";
import { ProcessPool } from "../../src/worker/jobs/index.ts";
import { RunExecutor, type RunExecutorDeps, type RunRow } from "../../src/worker/run-executor.ts";
import { RunLoop } from "../../src/worker/run-loop.ts";
import { OPS } from "../platform/executor/ops-fixture.ts";
import { tempProject, type TempProject } from "../platform/executor/_project.ts";

let project: TempProject;
before(async () => {
  project = await tempProject(OPS);
});
after(async () => {
  await project.cleanup();
});

const run = (id: string, versionId: string, args: unknown[]): RunRow =>
  ({ id, attempt: 1, maxRetries: 0, retryBackoffMs: 0, timeoutMs: null, workspaceId: "ws", deploymentId: versionId, versionId, args: args.map((a) => toWire(a)), traceparent: null, cancelRequested: false }) as unknown as RunRow;

/** Claims answered from `answers` in turn, then empty after a moment. */
function scriptedClaims(answers: RunRow[][]): ControlPlane {
  return {
    async call(route: string) {
      assert.equal(route, "POST /worker/claim");
      const next = answers.shift();
      if (next) return { runs: next };
      await new Promise((r) => setTimeout(r, 10));
      return { runs: [] };
    },
  } as unknown as ControlPlane;
}

describe("worker run loop: runs started beyond the process slots", () => {
  it("a run started behind a call that turns long (its version prepared slowly) goes back to the queue, not waiting for the call to end", async () => {
    const seen = { started: [] as string[], finished: [] as Array<{ id: string; status: string }>, requeued: [] as Array<{ id: string; attempt?: number }> };
    const output = {
      log() {},
      span() {},
      started: (id: string) => void seen.started.push(id),
      ended() {},
      finish: async (f: { id: string; status: string }) => void seen.finished.push(f),
      requeue: async (q: { id: string; attempt?: number }) => (seen.requeued.push(q), true),
      hold() {},
    };
    const pool = new ProcessPool({ slots: 1 });
    const deps = {
      me: { id: "wrk_slots" },
      pool,
      output,
      versions: {
        async manifest(versionId: string) {
          if (versionId === "ver_bad") throw new Error("no such version");
          return { entry: "ops.ts", export: "sleep", kind: "fn", init: [], resource: {}, contentHash: "h" };
        },
        // Its folder takes a while to make ready (a busy machine): the attempts wait longer than a short call.
        prepare: () => new Promise((r) => setTimeout(() => r(project.dir), 150)),
      },
      launcher: { forWorkspace: async () => undefined, forWarmCall: async () => undefined },
    } as unknown as RunExecutorDeps;
    const executor = new RunExecutor(deps);
    // A run that ends at once (its version cannot be prepared) makes calls look short; then two
    // runs of a 20 s sleeper come in one claim: one for the slot, one started behind it.
    const cp = scriptedClaims([[run("run_quick", "ver_bad", [])], [run("run_a", "ver_sleep", [20_000]), run("run_b", "ver_sleep", [20_000])]]);
    const loop = new RunLoop({ cp, me: { id: "wrk_slots" }, slots: 1, executor, held: output });
    loop.start();
    try {
      const deadline = Date.now() + 10_000;
      while (!seen.requeued.some((q) => q.id === "run_b") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(seen.requeued.length, 1, `run_b went back to the queue within a few seconds, instead of waiting behind run_a's 20 s call (started ${JSON.stringify(seen.started)}, finished ${JSON.stringify(seen.finished)}, pool ${JSON.stringify(pool.stats())})`);
      assert.equal(seen.requeued[0]!.id, "run_b");
      assert.equal(seen.requeued[0]!.attempt, 1, "its attempt is not spent");
      assert.ok(!seen.started.includes("run_b"), "run_b never started");
      assert.deepEqual(seen.finished.map((f) => f.id), ["run_quick"], "run_a still runs");
    } finally {
      await loop.stop();
      await pool.close();
    }
  });
});
