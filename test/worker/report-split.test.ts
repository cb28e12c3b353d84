// A report larger than the control plane's body limit was refused (413) and dropped with every finish
// in it: those runs lapsed back and ran again, or ended as crashed one lease later. It goes again as
// parts that fit, in apply order; a result too large for any request fails its run instead.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NboxError } from "../../src/errors.ts";
import { ReportBatcher } from "../../src/worker/report-batcher.ts";
import { splitReport } from "../../src/worker/report-split.ts";
import { fakeControlPlane } from "./_fake-control-plane.ts";

const LIMIT = 64 * 1024;

/** A control plane that takes reports up to LIMIT bytes, as its body limit does, and keeps them. */
function limitedControlPlane() {
  const taken: Array<{ workerId: string; logs: Array<{ runId: string; lines: unknown[] }>; finished: Array<{ id: string; status: string; result?: unknown; error?: { name: string } }>; claim: string[] }> = [];
  let refused = 0;
  const cp = fakeControlPlane({
    async persist(_route: string, _signal: AbortSignal, input: { body: (typeof taken)[number] }) {
      if (Buffer.byteLength(JSON.stringify(input.body)) > LIMIT) {
        refused++;
        throw new NboxError("PAYLOAD_TOO_LARGE", `request body is larger than the limit of ${LIMIT} bytes`);
      }
      taken.push(input.body);
      return { finished: input.body.finished.map((f) => f.id), requeued: [], claimed: [], held: input.body.claim };
    },
  });
  return { cp, taken, refused: () => refused };
}

describe("a report over the control plane's body limit", () => {
  it("goes again as parts that fit: every finish arrives, a result too large fails its run, each run's logs before its finish", async () => {
    const { cp, taken, refused } = limitedControlPlane();
    const batcher = new ReportBatcher(cp, () => "wrk_big");
    batcher.maxBodyBytes = LIMIT;
    try {
      const medium = "m".repeat(6_000);
      for (let i = 0; i < 20; i++) batcher.log(`run_${i}`, "stdout", `line of run ${i}`);
      const finishes = Array.from({ length: 20 }, (_, i) => batcher.finish({ id: `run_${i}`, attempt: 1, status: "succeeded", result: i === 7 ? "x".repeat(200_000) : `${i}:${medium}` }));
      const claims = batcher.claim(["run_next"]);
      await Promise.all(finishes);
      assert.ok(refused() >= 1, "the whole report was refused first");
      assert.ok(taken.length > 1, `sent again in parts (${taken.length})`);
      for (const part of taken) assert.ok(Buffer.byteLength(JSON.stringify(part)) <= LIMIT, "each part fits");
      const finished = taken.flatMap((p) => p.finished);
      assert.deepEqual(finished.map((f) => f.id).sort(), Array.from({ length: 20 }, (_, i) => `run_${i}`).sort(), "every finish arrived, once");
      const big = finished.find((f) => f.id === "run_7")!;
      assert.deepEqual([big.status, big.result, big.error?.name], ["failed", undefined, "ResultTooLargeError"]);
      assert.equal(finished.find((f) => f.id === "run_3")!.result, `3:${medium}`, "the others keep their results");
      // Apply order across parts: a run's log lines are never in a later part than its finish.
      const partOf = (pred: (p: (typeof taken)[number]) => boolean) => taken.findIndex(pred);
      for (let i = 0; i < 20; i++) {
        assert.ok(partOf((p) => p.logs.some((l) => l.runId === `run_${i}`)) <= partOf((p) => p.finished.some((f) => f.id === `run_${i}`)), `run_${i}'s logs first`);
      }
      assert.deepEqual((await claims).held, ["run_next"], "the claim rode on a part and got its answer");
    } finally {
      await batcher.close();
    }
  });

  it("one run's many log lines are cut into entries that fit, in their order", () => {
    const lines = Array.from({ length: 400 }, (_, i) => ({ stream: "stdout" as const, line: `${i}:${"l".repeat(1_000)}`, ts: i }));
    const parts = splitReport({ workerId: "w", logs: [{ runId: "run_a", lines }] }, LIMIT);
    assert.ok(parts.length > 1);
    for (const part of parts) assert.ok(Buffer.byteLength(JSON.stringify(part)) <= LIMIT);
    assert.deepEqual(parts.flatMap((p) => (p.logs ?? []).flatMap((l) => l.lines.map((x) => x.ts))), lines.map((l) => l.ts));
  });

  it("each entry cut from a run's lines carries the number of its own first line (the control plane skips lines by them)", () => {
    const lines = Array.from({ length: 400 }, (_, i) => ({ stream: "stdout" as const, line: `${i}:${"l".repeat(1_000)}`, ts: i }));
    const parts = splitReport({ workerId: "w", logs: [{ runId: "run_a", first: 1000, lines }, { runId: "run_b", lines: lines.slice(0, 100) }] }, LIMIT);
    const entries = parts.flatMap((p) => p.logs ?? []);
    const a = entries.filter((l) => l.runId === "run_a");
    assert.ok(a.length > 1);
    // Line ts i was numbered 1000 + i.
    for (const e of a) assert.equal(e.first, 1000 + e.lines[0]!.ts);
    for (const e of entries.filter((l) => l.runId === "run_b")) assert.equal("first" in e, false, "lines without numbers stay without");
  });
});
