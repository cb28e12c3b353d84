// A run's trace has a limit, like its log: a loop ending spans in a job must not fill the store for
// as long as it runs. Spans past `maxRunSpans` are dropped, the run's log says so once, other runs
// keep theirs, and a run's next attempt starts with a new budget.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore, type Store } from "../../../src/platform/store/index.ts";
import type { RunRow } from "../../../src/platform/store/schema.ts";
import { ReportWriter, type Report } from "../../../src/platform/workers/report.ts";
import { heldRuns, report, reportWriter } from "./_report-fixture.ts";

const MAX = 5;
let n = 0;
const spansOf = (runId: string, count: number): Report["spans"] =>
  Array.from({ length: count }, () => {
    const i = String(++n).padStart(4, "0");
    return { traceId: "d".repeat(28) + i, spanId: "d".repeat(12) + i, op: "Op", name: "step", start: 1, end: 2, status: "ok" as const, attributes: {}, runId };
  });

describe("a run's span budget", () => {
  let dir: string;
  let store: Store;
  let writer: ReportWriter;
  let held: (count: number) => Promise<RunRow[]>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "nbox-span-budget-"));
    store = await openStore({ dataDir: dir });
    ({ writer } = reportWriter(store, { maxRunSpans: MAX }));
    held = await heldRuns(store, "span-budget");
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const spanCount = async (runId: string) => {
    await writer.flush();
    return (await store.getSpans({ runId })).length;
  };
  const notes = async (runId: string) => (await store.getLogs(runId)).filter((l) => /limit of 5 spans/.test(l.line));

  it("keeps a run's first spans up to the limit, over several reports, and says so once in its log", async () => {
    const [flood, quiet] = await held(2);
    await writer.apply(report({ spans: [...spansOf(flood!.id, 3), ...spansOf(quiet!.id, 2)] }));
    await writer.apply(report({ spans: spansOf(flood!.id, 4) }));
    await writer.apply(report({ spans: spansOf(flood!.id, 10) }));
    assert.equal(await spanCount(flood!.id), MAX);
    assert.equal(await spanCount(quiet!.id), 2, "another run's spans are its own");
    const said = await notes(flood!.id);
    assert.equal(said.length, 1);
    assert.equal(said[0]!.stream, "system");
    assert.deepEqual(await notes(quiet!.id), []);
  });

  it("a run handed back starts its next attempt with a new budget", async () => {
    const [run] = await held(1);
    await writer.apply(report({ spans: spansOf(run!.id, MAX + 2) }));
    assert.equal(await spanCount(run!.id), MAX);
    await writer.apply(report({ requeued: [{ id: run!.id, attempt: 2, scheduledFor: null, error: { name: "Error", message: "again" } }] }));
    await store.claimRuns([run!.id], "w1");
    await writer.apply(report({ spans: spansOf(run!.id, 3) }));
    assert.equal(await spanCount(run!.id), MAX + 3);
  });
});
