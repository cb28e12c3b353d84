// A worker hands back the runs it held ahead all at once (a call turned long, or it is stopping):
// the report applies the whole hand-back in one statement, not one per run, and the runs whose
// cancel was asked meanwhile end as cancelled (also in one statement), each waiter woken with its row.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RunEvents } from "../../../src/platform/run-events.ts";
import { openStore, type Store } from "../../../src/platform/store/index.ts";
import type { RunRow } from "../../../src/platform/store/schema.ts";
import { ReportWriter, type Report } from "../../../src/platform/workers/report.ts";
import { heldRuns, report, reportWriter } from "./_report-fixture.ts";

describe("a report's hand-back", () => {
  let dir: string;
  let store: Store;
  let writer: ReportWriter;
  let events: RunEvents;
  let held: (n: number) => Promise<RunRow[]>;
  const calls: Record<string, number> = {};
  let poison = new Set<string>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "nbox-report-requeue-"));
    store = await openStore({ dataDir: dir });
    const counting = Object.create(store) as Store;
    const count = (name: string) => (calls[name] = (calls[name] ?? 0) + 1);
    counting.requeueRuns = async (items) => {
      count("requeueRuns");
      const bad = items.find((i) => poison.has(i.id));
      if (bad) throw new Error(`a bug on ${bad.id}`);
      return store.requeueRuns(items);
    };
    counting.finishRuns = async (items) => (count("finishRuns"), store.finishRuns(items));
    counting.finishRun = async (id, input) => (count("finishRun"), store.finishRun(id, input));
    ({ writer, events } = reportWriter(counting));
    held = await heldRuns(store, "requeue");
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives back 40 runs in one statement; the two whose cancel was asked end cancelled, their waiters woken with the row", async () => {
    const runs = await held(40);
    const cancelAsked = [runs[3]!, runs[17]!];
    for (const r of cancelAsked) await store.requestCancel(r.id);
    const woken = new Map<string, unknown>();
    const listener = (id: string, row?: unknown) => woken.set(id, row);
    events.on("finished", listener);
    for (const k of Object.keys(calls)) delete calls[k];
    try {
      const out = await writer.apply(report({ requeued: runs.map((r) => ({ id: r.id, attempt: r.attempt, scheduledFor: null, error: null })) }));
      assert.equal(out.requeued.length, 38);
      assert.deepEqual(calls, { requeueRuns: 1, finishRuns: 1 }, "one statement for the hand-back, one for the cancelled");
    } finally {
      events.off("finished", listener);
    }
    for (const r of runs) {
      const now = await store.getRun(r.id);
      const cancelled = cancelAsked.includes(r);
      assert.deepEqual([now?.status, now?.attempt, now?.workerId], [cancelled ? "cancelled" : "queued", 1, cancelled ? "w1" : null], r.id);
    }
    assert.deepEqual([...woken.keys()].sort(), cancelAsked.map((r) => r.id).sort());
    for (const r of cancelAsked) assert.equal((woken.get(r.id) as RunRow | undefined)?.status, "cancelled", "woken with the row: no read back");
  });

  it("a hand-back the store fails on is applied run by run, skipping only the run it fails on", async () => {
    const runs = await held(3);
    poison = new Set([runs[1]!.id]);
    const original = console.error;
    console.error = () => {};
    try {
      const out = await writer.apply(report({ requeued: runs.map((r) => ({ id: r.id, attempt: r.attempt, scheduledFor: null, error: null })) }));
      assert.deepEqual(out.requeued.sort(), [runs[0]!.id, runs[2]!.id].sort());
    } finally {
      console.error = original;
      poison = new Set();
    }
    assert.equal((await store.getRun(runs[1]!.id))?.status, "running", "left to lapse back to the queue");
  });
});
