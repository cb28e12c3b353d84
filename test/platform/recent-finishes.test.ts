// Runs heard finishing in this process: on the embedded store, a run created since the process
// started that is not among them has not finished, so a wait need not read it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RecentFinishes } from "../../src/platform/recent-finishes.ts";
import { idTime } from "../../src/platform/store/ids.ts";

let seq = 0;
/** A run id made at `ms` (newId itself never goes back in time within a process). */
const newId = (_kind: "run", ms: number) => `run_${ms.toString(16).padStart(12, "0")}${(++seq).toString(16).padStart(6, "0")}0123456789`;

describe("recent finishes", () => {
  it("a run created since the start and not heard finishing has not finished; older runs and odd ids may have", () => {
    const start = Date.now();
    const older = newId("run", start - 1_000);
    const f = new RecentFinishes(start);
    const a = newId("run", start + 1);
    const b = newId("run", start + 2);
    assert.equal(idTime(a), start + 1);
    assert.equal(f.mayHaveFinished(a), false);
    f.add(a);
    assert.equal(f.mayHaveFinished(a), true);
    assert.equal(f.mayHaveFinished(b), false);
    assert.equal(f.mayHaveFinished(older), true, "created before the start: may have finished unheard");
    assert.equal(f.mayHaveFinished("not-an-id"), true);
    assert.equal(f.mayHaveFinished("run_zzz"), true);
  });

  it("forgetting the earliest finishes moves the start past them: a forgotten run still may have finished", () => {
    const start = Date.now();
    const f = new RecentFinishes(start, 10);
    const ids = Array.from({ length: 11 }, (_, i) => newId("run", start + 10 + i));
    for (const id of ids) f.add(id);
    // The first one was forgotten: runs created up to it are no longer known either way.
    assert.equal(f.mayHaveFinished(ids[0]!), true);
    assert.equal(f.mayHaveFinished(newId("run", start + 5)), true, "created before the forgotten one");
    for (const id of ids.slice(1)) assert.equal(f.mayHaveFinished(id), true);
    assert.equal(f.mayHaveFinished(newId("run", start + 100)), false, "created after it and not heard: not finished");
  });
});
