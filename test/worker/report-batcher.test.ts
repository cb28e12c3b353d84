// A report the control plane refuses is said once, with the claims it carried, and each claim in it
// is rejected (its delivery comes back later) — not one more line per claim. A busy worker's
// reports are spaced out so that each carries the finishes of a moment.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ReportBatcher, type WorkerLoad } from "../../src/worker/report-batcher.ts";
import type { RunRow } from "../../src/worker/run-executor.ts";
import { fakeControlPlane } from "./_fake-control-plane.ts";

/** A batcher whose every report body is kept in `sent`, each answered with nothing. */
function recordingBatcher<Body>(workerId: string) {
  const sent: Body[] = [];
  const cp = fakeControlPlane({
    async persist(_route: string, _signal: AbortSignal, input: { body: Body }) {
      sent.push(input.body);
      return { finished: [], requeued: [], claimed: [], held: [] };
    },
  });
  return { sent, batcher: new ReportBatcher(cp, () => workerId) };
}

describe("worker report batcher", () => {
  it("numbers log lines: each entry carries the number of its first line, and a run's numbers go up from report to report", async () => {
    const { sent, batcher } = recordingBatcher<{ logs: Array<{ runId: string; first?: number; lines: Array<{ line: string }> }> }>("wrk_no");
    try {
      batcher.log("run_a", "stdout", "a1");
      batcher.log("run_b", "stdout", "b1");
      batcher.log("run_a", "stderr", "a2");
      batcher.log("run_b", "stdout", "b2");
      await batcher.flush();
      batcher.log("run_a", "system", "a3");
      await batcher.flush();
      // Each line's number: its entry's first, plus its place in the entry.
      const numbers = new Map<string, number[]>();
      for (const r of sent) {
        for (const { runId, first, lines } of r.logs) {
          assert.equal(typeof first, "number");
          numbers.set(runId, [...(numbers.get(runId) ?? []), ...lines.map((_, i) => first! + i)]);
        }
      }
      for (const [runId, nos] of numbers) {
        for (let i = 1; i < nos.length; i++) assert.ok(nos[i]! > nos[i - 1]!, `${runId}: ${nos.join(", ")} go up`);
      }
      assert.equal(numbers.get("run_a")!.length, 3);
    } finally {
      await batcher.close();
    }
  });

  it("a started mark names the attempt that started (the control plane marks only that attempt)", async () => {
    const { sent, batcher } = recordingBatcher<{ started: Array<{ id: string; attempt?: number; startedAt: number }> }>("wrk_att");
    try {
      batcher.started("run_a", 3, 1234);
      // The mark waits a moment (a call ending at once needs none), then goes with the next report.
      for (const deadline = Date.now() + 5_000; !sent.some((r) => r.started.length > 0) && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 10));
      await batcher.flush();
      assert.deepEqual(sent.flatMap((r) => r.started), [{ id: "run_a", attempt: 3, startedAt: 1234 }]);
    } finally {
      await batcher.close();
    }
  });

  it("forgets every hold when the worker joins again under a new id (the heartbeat stops naming them)", async () => {
    const batcher = new ReportBatcher(fakeControlPlane({ persist: async () => ({ finished: [], requeued: [], claimed: [], held: [] }) }), () => "wrk_again");
    try {
      batcher.hold(["run_a", "run_b"]);
      assert.deepEqual(batcher.held, ["run_a", "run_b"]);
      batcher.forgetHolds();
      assert.deepEqual(batcher.held, []);
    } finally {
      await batcher.close();
    }
  });

  it("numbers serving notes: one more each, from report to report", async () => {
    const { sent, batcher } = recordingBatcher<{ servings: Array<{ deploymentId: string; no?: number }> }>("wrk_notes");
    try {
      batcher.serving({ deploymentId: "dep_a", requests: 1 });
      batcher.serving({ deploymentId: "dep_b", status: "ready" });
      await batcher.flush();
      batcher.serving({ deploymentId: "dep_a", requests: 2 });
      await batcher.flush();
      assert.deepEqual(sent.flatMap((r) => r.servings.map((n) => n.no)), [1, 2, 3]);
    } finally {
      await batcher.close();
    }
  });

  it("a refused report is logged once, naming how many claims it carried; every claim in it is rejected", async () => {
    const sent: unknown[] = [];
    const cp = fakeControlPlane({
      async persist(_route: string, _signal: AbortSignal, input: { body: unknown }) {
        sent.push(input.body);
        throw Object.assign(new Error("worker wrk_x was declared dead"), { code: "NOT_FOUND" });
      },
    });
    const batcher = new ReportBatcher(cp, () => "wrk_x");
    const lines: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
    try {
      const outcomes = await Promise.allSettled([batcher.claim(["run_a"]), batcher.claim(["run_b", "run_c"])]);
      assert.deepEqual(outcomes.map((o) => o.status), ["rejected", "rejected"]);
      assert.equal(sent.length, 1, "both claims rode on one report");
      assert.deepEqual(lines, ["[nbox worker] a report was refused (its 3 claim(s) are delivered again shortly): worker wrk_x was declared dead"]);
    } finally {
      console.error = original;
      await batcher.close();
    }
  });
  it("while runs wait for a slot, a finish waits for the report interval and goes out with the ones after it; without a backlog it does not", async () => {
    const sent: Array<{ at: number; finished: string[] }> = [];
    const cp = fakeControlPlane({
      async persist(_route: string, _signal: AbortSignal, input: { body: { finished?: Array<{ id: string }> } }) {
        const finished = (input.body.finished ?? []).map((f) => f.id);
        sent.push({ at: performance.now(), finished });
        return { finished, requeued: [], claimed: [], held: [] };
      },
    });
    let load: WorkerLoad = "backlog";
    const batcher = new ReportBatcher(cp, () => "wrk_busy", () => load);
    const finish = (id: string) => batcher.finish({ id, attempt: 1, status: "succeeded", result: null, startedAt: 0, finishedAt: 0 });
    // Two finishes in different turns of the event loop; `gapMs` 0 = the very next turn (well inside the
    // 20 ms interval even on a slow machine, where a timer of a few ms can fire after it).
    const twoFinishesApart = async (a: string, b: string, gapMs: number) => {
      const first = finish(a);
      await new Promise((r) => (gapMs === 0 ? setImmediate(r) : setTimeout(r, gapMs)));
      await Promise.all([first, finish(b)]);
    };
    try {
      await finish("run_1");
      await twoFinishesApart("run_2", "run_3", 0);
      assert.deepEqual(sent.map((r) => r.finished), [["run_1"], ["run_2", "run_3"]], "the two later finishes rode on one report");
      assert.ok(sent[1]!.at - sent[0]!.at >= 15, `the second report waited for the interval (${(sent[1]!.at - sent[0]!.at).toFixed(1)} ms after the first)`);
      // Several runs at once but none waiting: a finish goes out after a short pause, not the interval.
      load = "busy";
      await twoFinishesApart("run_4", "run_5", 8);
      assert.deepEqual(sent.slice(2).map((r) => r.finished), [["run_4"], ["run_5"]]);
    } finally {
      await batcher.close();
    }
  });

  it("under a backlog, a report that has gathered 64 finishes and claims goes out without waiting for the interval", async () => {
    const sent: Array<{ finished: number; claim: number }> = [];
    const cp = fakeControlPlane({
      async persist(_route: string, _signal: AbortSignal, input: { body: { finished?: Array<{ id: string }>; claim?: string[] } }) {
        sent.push({ finished: input.body.finished?.length ?? 0, claim: input.body.claim?.length ?? 0 });
        return { finished: (input.body.finished ?? []).map((f) => f.id), requeued: [], claimed: [], held: [] };
      },
    });
    const batcher = new ReportBatcher(cp, () => "wrk_fast", () => "backlog");
    const finish = (id: string) => batcher.finish({ id, attempt: 1, status: "succeeded", result: null, startedAt: 0, finishedAt: 0 });
    const nextTurn = () => new Promise((r) => setImmediate(r));
    try {
      await finish("run_0");
      assert.equal(sent.length, 1);
      // The interval starts now: 60 finishes and 3 claims are one short of a full report.
      const pending: Promise<unknown>[] = [];
      for (let i = 1; i <= 60; i++) pending.push(finish(`run_${i}`));
      pending.push(batcher.claim(["run_a", "run_b"]), batcher.claim(["run_c"]));
      await nextTurn();
      await nextTurn();
      assert.equal(sent.length, 1, "not full yet: it waits for the interval");
      pending.push(finish("run_61"));
      await nextTurn();
      await nextTurn();
      assert.deepEqual(sent[1], { finished: 61, claim: 3 }, "full: out at once, well inside the 50 ms interval");
      await Promise.all(pending);
    } finally {
      await batcher.close();
    }
  });

  it("a run handed back and claimed again before the hand-back's report was answered stays held (its lease keeps being renewed)", async () => {
    let answer!: () => void;
    const answered = new Promise<void>((r) => (answer = r));
    const cp = fakeControlPlane({
      async persist(_route: string, _signal: AbortSignal, input: { body: { requeued?: Array<{ id: string }>; claim?: string[] } }) {
        // The control plane applied the hand-back; its answer is slow to arrive.
        await answered;
        return { finished: [], requeued: (input.body.requeued ?? []).map((q) => q.id), claimed: [], held: [] };
      },
    });
    const batcher = new ReportBatcher(cp, () => "wrk_again");
    try {
      batcher.hold(["run_r"]);
      const back = batcher.requeue({ id: "run_r", attempt: 1, scheduledFor: null, error: null });
      await new Promise((r) => setImmediate(r));
      // Meanwhile a claim (held open, answered first) brought the same run back to this worker.
      batcher.hold(["run_r"]);
      answer();
      assert.equal(await back, true);
      assert.deepEqual(batcher.held, ["run_r"], "the late answer to the hand-back does not drop the claim that came after it");
      // A run reported over and not claimed again is not held any more.
      batcher.hold(["run_s"]);
      await batcher.requeue({ id: "run_s", attempt: 1, scheduledFor: null, error: null });
      assert.deepEqual(batcher.held, ["run_r"]);
    } finally {
      await batcher.close();
    }
  });

  it("the answer to a repeated claim, sent before the report that finished its run, does not hold the run again", async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const cp = fakeControlPlane({
      async persist(_route: string, _signal: AbortSignal, input: { body: { finished?: Array<{ id: string }>; claim?: string[] } }) {
        await gate;
        const claimed = (input.body.claim ?? []).map((id) => ({ id }) as RunRow);
        return { finished: (input.body.finished ?? []).map((f) => f.id), requeued: [], claimed, held: [] };
      },
    });
    const batcher = new ReportBatcher(cp, () => "wrk_late");
    try {
      batcher.hold(["run_x"]);
      // A repeated claim of run_x rides on a report whose answer is slow...
      const claim = batcher.claim(["run_x"]);
      await new Promise((r) => setImmediate(r));
      // ...meanwhile run_x finishes; its log line's flush builds the next report, with the finish.
      const finished = batcher.finish({ id: "run_x", attempt: 1, status: "succeeded", result: 1, startedAt: 0, finishedAt: 0 });
      batcher.log("run_x", "stdout", "done");
      await new Promise((r) => setTimeout(r, 100));
      open();
      await claim;
      await finished;
      assert.deepEqual(batcher.held, [], "a finished run is not renewed by the heartbeat for ever");
    } finally {
      await batcher.close();
    }
  });
});
