// A report the control plane applied but whose answer never reached the worker (a timeout, a reset
// connection, a control plane killed mid-request) is sent again as it was. Its finishes, started marks
// and requeues are guarded by the run's status and holder; its log lines are guarded by the numbers
// the worker gave them: a run's log never shows a line twice, across a control-plane restart too,
// while lines of the run's next holder (numbered afresh) and of an older worker (no numbers) still go in.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, type Store } from "../../../src/platform/store/index.ts";
import type { RunRow } from "../../../src/platform/store/schema.ts";
import { ReportWriter, type Report } from "../../../src/platform/workers/report.ts";
import { heldRuns, report, reportWriter } from "./_report-fixture.ts";

const lines = (...texts: string[]) => texts.map((line, i) => ({ stream: "stdout" as const, line, ts: 1_000 + i }));

describe("a worker report sent again", () => {
  let dir: string;
  let store: Store;
  let writer: ReportWriter;
  let held: (n: number, workerId?: string) => Promise<RunRow[]>;
  const texts = async (runId: string) => (await store.getLogs(runId)).map((l) => l.line);

  /** The control plane as it starts: the store opened on its folder, a writer of its own. */
  const start = async () => {
    store = await openStore({ dataDir: dir });
    ({ writer } = reportWriter(store));
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "nbox-report-logs-replay-"));
    await start();
    // Through `store` as it is now: the tests reopen it as a restarted control plane would.
    held = async (n, workerId) => (await heldRuns(store, "replay"))(n, workerId);
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps each line once when the same report is applied twice (its answer was lost)", async () => {
    const [a, b] = await held(2);
    const r = report({ logs: [{ runId: a!.id, first: 1, lines: lines("a1", "a2") }, { runId: b!.id, first: 3, lines: lines("b1") }] });
    await writer.apply(r);
    await writer.apply(r);
    assert.deepEqual(await texts(a!.id), ["a1", "a2"]);
    assert.deepEqual(await texts(b!.id), ["b1"]);
    // The next report's lines go on after them.
    await writer.apply(report({ logs: [{ runId: a!.id, first: 4, lines: lines("a3") }] }));
    assert.deepEqual(await texts(a!.id), ["a1", "a2", "a3"]);
  });

  it("keeps each line once when the control plane restarted between the two", async () => {
    const [a] = await held(1);
    const r = report({ logs: [{ runId: a!.id, first: 10, lines: lines("x1", "x2", "x3") }] });
    await writer.apply(r);
    await store.close();
    await start();
    await writer.apply(r);
    assert.deepEqual(await texts(a!.id), ["x1", "x2", "x3"]);
  });

  it("a report applied in part (the store went away midway) keeps the rest, once, when sent again", async () => {
    const [a, b] = await held(2);
    const r = report({ logs: [{ runId: a!.id, first: 20, lines: lines("a1") }, { runId: b!.id, first: 21, lines: lines("b1", "b2") }] });
    // What the first try applied before the store became unreachable: run a's lines.
    await writer.apply(report({ logs: [r.logs[0]!] }));
    await writer.apply(r);
    assert.deepEqual(await texts(a!.id), ["a1"]);
    assert.deepEqual(await texts(b!.id), ["b1", "b2"]);
  });

  it("a run handed back and claimed by another worker takes that worker's lines, numbered afresh", async () => {
    const [a] = await held(1);
    await writer.apply(report({ logs: [{ runId: a!.id, first: 500, lines: lines("w1 line") }], requeued: [{ id: a!.id, attempt: a!.attempt, scheduledFor: null, error: null }] }));
    assert.equal((await store.claimRuns([a!.id], "w2")).length, 1);
    const r = report({ workerId: "w2", logs: [{ runId: a!.id, first: 1, lines: lines("w2 line") }] });
    await writer.apply(r);
    await writer.apply(r);
    assert.deepEqual(await texts(a!.id), ["w1 line", "w2 line"]);
  });

  it("a run handed back and claimed again by the same worker still refuses the old report's lines", async () => {
    const [a] = await held(1);
    const logs = [{ runId: a!.id, first: 700, lines: lines("before") }];
    await writer.apply(report({ logs, requeued: [{ id: a!.id, attempt: a!.attempt, scheduledFor: null, error: null }] }));
    // Claimed again (a claim held open, answered before the hand-back's report was) and sent again.
    assert.equal((await store.claimRuns([a!.id], "w1")).length, 1);
    await writer.apply(report({ logs }));
    await writer.apply(report({ logs: [{ runId: a!.id, first: 702, lines: lines("after") }] }));
    assert.deepEqual(await texts(a!.id), ["before", "after"]);
  });

  it("lines without numbers (a worker of an earlier release) are appended as before", async () => {
    const [a] = await held(1);
    const r = report({ logs: [{ runId: a!.id, lines: lines("old") }] });
    await writer.apply(r);
    await writer.apply(r);
    assert.deepEqual(await texts(a!.id), ["old", "old"]);
  });
});
