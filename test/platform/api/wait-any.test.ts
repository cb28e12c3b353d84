// The long-poll behind remote map resumes from a cursor: the previous poll's watch kept listening,
// so the next poll reads back only the ids it added, yet misses nothing — not a run that finished
// between polls, not an added run that finished long before, not an answer that never arrived, not a
// finish this control plane never heard (another node's, on a shared store), which the periodic full
// read still finds; the embedded store, whose finishes are all heard, is not read again and again.
// Other workspaces' runs never answer; watches left behind are bounded. Runs heard finishing come
// without their args; an answer that shows them reads them in one statement.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PlatformContext } from "../../../src/platform/context.ts";
import { waitForAny } from "../../../src/platform/api/wait-any.ts";
import { MAX_WAIT_IDS } from "../../../src/contract/routes-runs.ts";
import { presentRuns } from "../../../src/platform/api/present.ts";
import { RunEvents } from "../../../src/platform/run-events.ts";
import { openStore, type FinishedRun, type Store } from "../../../src/platform/store/index.ts";
import type { RunRow } from "../../../src/platform/store/schema.ts";

describe("waitForAny with a cursor", () => {
  let dir: string;
  let store: Store;
  let ctx: PlatformContext;
  let reads: string[][];
  const argsReads: string[][] = [];
  let mine: (n: number) => Promise<RunRow[]>;
  let theirs: (n: number) => Promise<RunRow[]>;
  let wsId: string;

  const finish = async (run: RunRow, opts: { heard?: boolean } = {}) => {
    const [row] = await store.finishRuns([{ id: run.id, status: "succeeded", result: 1 }]);
    if (opts.heard !== false) ctx.events.emit("finished", run.id, row);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "nbox-wait-any-"));
    store = await openStore({ dataDir: dir });
    reads = [];
    // Every store read of runs, by the ids it asked for.
    const counted = Object.create(store) as Store;
    counted.getRuns = (ids, opts) => {
      reads.push([...ids]);
      return store.getRuns(ids, opts);
    };
    counted.argsOf = (ids) => {
      argsReads.push([...ids]);
      return store.argsOf(ids);
    };
    ctx = { store: counted, events: new RunEvents() } as unknown as PlatformContext;
    const runsIn = async (wsName: string) => {
      const ws = await store.ensureWorkspace(wsName);
      const { deployment, version } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name: "job", type: "job", kind: "fn", contentHash: `h-${wsName}`, lockfileHash: null, manifest: {}, bundleBytes: 1 });
      return { ws, make: (n: number) => store.createRuns(Array.from({ length: n }, (_, i) => ({ workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args: [i] }))) };
    };
    const a = await runsIn("wait-mine");
    const b = await runsIn("wait-theirs");
    wsId = a.ws.id;
    mine = a.make;
    theirs = b.make;
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the next poll reads only the ids it added, and still finds what finished between polls", async () => {
    const runs = await mine(50);
    const ids = runs.map((r) => r.id);
    await finish(runs[0]!);
    reads = [];
    const first = await waitForAny(ctx, ids, 5_000);
    assert.deepEqual(first.runs.map((r) => r.id), [ids[0]]);
    assert.deepEqual(reads, [ids], "without a cursor every watched run is read");

    // Between polls: one watched run finishes, and a new run (finished earlier) joins the watch.
    await finish(runs[7]!);
    const [late] = await mine(1);
    await finish(late!);
    const watch = [...ids.slice(1), late!.id];
    reads = [];
    const second = await waitForAny(ctx, watch, 5_000, { cursor: first.cursor, added: [late!.id] });
    assert.deepEqual(second.runs.map((r) => r.id).sort(), [ids[7], late!.id].sort());
    assert.deepEqual(reads, [[late!.id]], "only the added run is read: the finish between polls was heard");

    // Nothing finished since: the poll waits, and answers with the next finish it hears.
    const rest = watch.filter((id) => id !== ids[7] && id !== late!.id);
    reads = [];
    const waiting = waitForAny(ctx, rest, 5_000, { cursor: second.cursor, added: [] });
    await new Promise((r) => setTimeout(r, 50));
    await finish(runs[9]!);
    const third = await waiting;
    assert.deepEqual(third.runs.map((r) => r.id), [ids[9]]);
    assert.deepEqual(reads, [], "the finisher's row needs no read back");

    // The third answer never arrived: the caller polls again with the second cursor and gets it again.
    await finish(runs[11]!);
    const again = await waitForAny(ctx, rest, 5_000, { cursor: second.cursor, added: [] });
    assert.deepEqual(again.runs.map((r) => r.id).sort(), [ids[9], ids[11]].sort());
    const after = await waitForAny(ctx, rest.filter((id) => id !== ids[9] && id !== ids[11]), 200, { cursor: again.cursor, added: [] });
    assert.deepEqual(after.runs, [], "an answer that arrived is not answered twice");
  });

  it("a store shared with other control planes: a finish this one never heard is found by the full read a cursor cannot skip for long", async () => {
    // The same store, seen as Postgres: other nodes may finish its runs.
    const shared = { ...ctx, store: Object.assign(Object.create(ctx.store) as Store, { kind: "postgres" }) } as PlatformContext;
    const runs = await mine(5);
    const ids = runs.map((r) => r.id);
    await finish(runs[0]!);
    const first = await waitForAny(shared, ids, 5_000);
    await finish(runs[1]!, { heard: false }); // finished through another node
    const rest = ids.slice(1);
    const t0 = Date.now();
    let got: FinishedRun[] = [];
    let cursor = first.cursor;
    while (got.length === 0 && Date.now() - t0 < 5_000) ({ runs: got, cursor } = await waitForAny(shared, rest, 300, { cursor, added: [] }));
    assert.deepEqual(got.map((r) => r.id), [ids[1]]);
  });

  it("the embedded store (this process's alone): polls with a cursor read no unfinished ids they add, also while nothing is heard", async () => {
    const runs = await mine(20);
    const ids = runs.map((r) => r.id);
    await finish(runs[0]!);
    const first = await waitForAny(ctx, ids, 5_000);
    const rest = ids.slice(1);
    const [added] = await mine(1);
    reads = [];
    // Longer than a shared store's recheck and full-read pace, with nothing finishing.
    const quiet = await waitForAny(ctx, [...rest, added!.id], 1_500, { cursor: first.cursor, added: [added!.id] });
    assert.deepEqual(quiet.runs, []);
    assert.deepEqual(reads, [], "nothing read: the added run was not heard finishing, so it has not");
    await finish(runs[3]!);
    reads = [];
    const next = await waitForAny(ctx, [...rest, added!.id], 5_000, { cursor: quiet.cursor, added: [] });
    assert.deepEqual(next.runs.map((r) => r.id), [ids[3]]);
    assert.deepEqual(reads, [], "heard: nothing read");
  });

  it("a cursor of another process, an unknown watch or garbage falls back to reading every watched run", async () => {
    const runs = await mine(3);
    const ids = runs.map((r) => r.id);
    await finish(runs[2]!);
    for (const cursor of [`notawatch.1.${Date.now()}`, "garbage", `${"x".repeat(30)}.1.1`]) {
      reads = [];
      const r = await waitForAny(ctx, ids, 1_000, { cursor, added: [] });
      assert.deepEqual(r.runs.map((x) => x.id), [ids[2]], `cursor ${cursor}`);
      assert.deepEqual(reads, [ids]);
    }
  });

  it("runs the caller may not see never answer, and do not end the wait early", async () => {
    const [own] = await mine(1);
    const foreign = await theirs(2);
    await finish(foreign[0]!);
    const visible = (r: FinishedRun) => r.workspaceId === wsId;
    const waiting = waitForAny(ctx, [foreign[0]!.id, foreign[1]!.id, own!.id], 5_000, { visible });
    await new Promise((r) => setTimeout(r, 50));
    await finish(foreign[1]!);
    await new Promise((r) => setTimeout(r, 50));
    await finish(own!);
    const got = await waiting;
    assert.deepEqual(got.runs.map((r) => r.id), [own!.id]);
    const none = await waitForAny(ctx, foreign.map((r) => r.id), 300, { visible });
    assert.deepEqual(none.runs, []);
    // Added to a poll that names no ids: the same (finished, heard or not, they never answer).
    const [mineToo] = await mine(1);
    const first = await waitForAny(ctx, [mineToo!.id], 0, { owner: "peeker", visible });
    const [more] = await theirs(1);
    await finish(more!);
    const lean = await waitForAny(ctx, undefined, 300, { owner: "peeker", visible, cursor: first.cursor, added: [...foreign.map((r) => r.id), more!.id] });
    assert.deepEqual(lean.runs, []);
  });

  it("watches left behind by callers that never come back are bounded, per caller and in all, and stop listening", async () => {
    const [run] = await mine(1);
    const before = ctx.events.listenerCount("finished");
    const lingering = () => ctx.events.waitWatches.size;
    // Watches earlier tests left lasting a few seconds would end in the middle of the counts below.
    for (const deadline = Date.now() + 10_000; lingering() > 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    const start = lingering();
    assert.equal(start, 0, "earlier tests' watches ended");
    for (let i = 0; i < 100; i++) await waitForAny(ctx, [run!.id], 0, { owner: "greedy" });
    assert.equal(lingering() - start, 32, "one caller keeps at most 32");
    for (let i = 0; i < 300; i++) await waitForAny(ctx, [run!.id], 0, { owner: `caller-${i % 10}` });
    assert.equal(lingering(), 256);
    assert.ok(ctx.events.listenerCount("finished") <= before + 256, "the oldest watches stopped listening");
  });

  it("a cursor resumes only its own caller's watch", async () => {
    const runs = await mine(3);
    const ids = runs.map((r) => r.id);
    await finish(runs[0]!);
    const mineFirst = await waitForAny(ctx, ids, 5_000, { owner: "me" });
    await finish(runs[1]!);
    reads = [];
    const stolen = await waitForAny(ctx, ids.slice(1), 5_000, { owner: "someone else", cursor: mineFirst.cursor, added: [] });
    assert.deepEqual(stolen.runs.map((r) => r.id), [ids[1]]);
    assert.deepEqual(reads, [ids.slice(1)], "another caller's cursor does not resume the watch: a full read");
    reads = [];
    const own = await waitForAny(ctx, ids.slice(1), 5_000, { owner: "me", cursor: mineFirst.cursor, added: [] });
    assert.deepEqual(own.runs.map((r) => r.id), [ids[1]]);
    assert.deepEqual(reads, [], "the owner's next poll still resumes it");
  });

  it("runs heard finishing come without args: an answer showing them reads them in one statement, one leaving them out reads nothing", async () => {
    const runs = await mine(3);
    const ids = runs.map((r) => r.id);
    const waiting = waitForAny(ctx, ids, 5_000);
    await new Promise((r) => setTimeout(r, 20));
    reads = [];
    const rows = await store.finishRuns(runs.map((r) => ({ id: r.id, status: "succeeded" as const, result: 1 })));
    for (const row of rows) ctx.events.emit("finished", row.id, row);
    const got = await waiting;
    assert.deepEqual(reads, [], "heard, not read back");
    assert.deepEqual(got.runs.map((r) => r.id).sort(), [...ids].sort());
    assert.ok(got.runs.every((r) => !("args" in r)));
    argsReads.length = 0;
    const lean = await presentRuns(ctx, got.runs, { withArgs: false });
    assert.ok(lean.every((r) => !("args" in r)));
    assert.equal(argsReads.length, 0, "left out: nothing read");
    // A row read from the store has its args already: only the heard ones are read, together.
    const { workspaceId, deploymentId, versionId } = runs[0]!;
    const readBack = await store.createRuns([{ workspaceId, deploymentId, versionId, args: ["read back"] }]);
    const shown = await presentRuns(ctx, [...got.runs, readBack[0]!]);
    assert.deepEqual(argsReads.map((x) => x.sort()), [got.runs.map((r) => r.id).sort()]);
    const argsOf = new Map(runs.map((r) => [r.id, r.args]));
    assert.deepEqual(shown.map((r) => r.args), [...got.runs.map((r) => argsOf.get(r.id)), ["read back"]]);
  });

  it("a poll naming no ids resumes its watch: what it watched, less the runs it answered, plus the added ones", async () => {
    const runs = await mine(6);
    const ids = runs.map((r) => r.id);
    await finish(runs[0]!);
    const first = await waitForAny(ctx, ids, 5_000, { owner: "lean" });
    assert.deepEqual(first.runs.map((r) => r.id), [ids[0]]);
    // Between polls one watched run finishes and a new one joins; the poll names only the new one.
    await finish(runs[2]!);
    const [late] = await mine(1);
    reads = [];
    const second = await waitForAny(ctx, undefined, 5_000, { owner: "lean", cursor: first.cursor, added: [late!.id] });
    assert.deepEqual(second.runs.map((r) => r.id), [ids[2]], "the answered run is not answered again; the gap's finish is");
    assert.deepEqual(reads, [], "an added run not heard finishing is not read");
    // The added run is watched: its finish answers the next poll, which again names no ids.
    const waiting = waitForAny(ctx, undefined, 5_000, { owner: "lean", cursor: second.cursor, added: [] });
    await new Promise((r) => setTimeout(r, 50));
    await finish(late!);
    const third = await waiting;
    assert.deepEqual(third.runs.map((r) => r.id), [late!.id]);
    // The third answer never arrived: a poll naming the second cursor gets it again.
    const again = await waitForAny(ctx, undefined, 5_000, { owner: "lean", cursor: second.cursor, added: [] });
    assert.deepEqual(again.runs.map((r) => r.id), [late!.id]);
    // Received now: what is left is exactly the never-finished ids.
    const rest = await waitForAny(ctx, undefined, 200, { owner: "lean", cursor: again.cursor, added: [] });
    assert.deepEqual(rest.runs, []);
    for (const run of [runs[1]!, runs[3]!, runs[4]!, runs[5]!]) await finish(run);
    const last = await waitForAny(ctx, undefined, 5_000, { owner: "lean", cursor: rest.cursor, added: [] });
    assert.deepEqual(last.runs.map((r) => r.id).sort(), [ids[1], ids[3], ids[4], ids[5]].sort());
  });

  it("on a shared store, the full read of a poll naming no ids does not answer a run it answered before", async () => {
    const shared = { ...ctx, store: Object.assign(Object.create(ctx.store) as Store, { kind: "postgres" }) } as PlatformContext;
    const runs = await mine(2);
    await finish(runs[0]!);
    const first = await waitForAny(shared, runs.map((r) => r.id), 5_000, { owner: "lean-shared" });
    assert.deepEqual(first.runs.map((r) => r.id), [runs[0]!.id]);
    reads = [];
    // Longer than the shared store's full-read pace: every watched run is read again, the answered one no longer watched.
    const quiet = await waitForAny(shared, undefined, 1_600, { owner: "lean-shared", cursor: first.cursor, added: [] });
    assert.deepEqual(quiet.runs, []);
    assert.ok(reads.length > 0 && reads.every((r) => r.length === 1 && r[0] === runs[1]!.id), JSON.stringify(reads));
  });

  it("a poll naming no ids whose watch is gone (or never was its caller's) is told to name them all", async () => {
    const [run] = await mine(1);
    const first = await waitForAny(ctx, [run!.id], 0, { owner: "owner-a" });
    for (const [owner, cursor] of [["owner-b", first.cursor], ["owner-a", `gone.1.${Date.now()}`], ["owner-a", undefined]] as const) {
      const r = await waitForAny(ctx, undefined, 1_000, { owner, cursor, added: [run!.id] });
      assert.deepEqual(r, { runs: [], cursor: "", watchLost: true }, `${owner} ${cursor}`);
    }
    // The owner's watch was not taken by those polls.
    await finish(run!);
    const own = await waitForAny(ctx, undefined, 5_000, { owner: "owner-a", cursor: first.cursor, added: [] });
    assert.deepEqual(own.runs.map((r) => r.id), [run!.id]);
  });

  it("added ids cannot grow a watch past the limit of one poll", async () => {
    const runs = await mine(2);
    const first = await waitForAny(ctx, [runs[0]!.id], 0, { owner: "grower" });
    const many = Array.from({ length: MAX_WAIT_IDS }, (_, i) => `run_fake${i}`);
    await assert.rejects(waitForAny(ctx, undefined, 0, { owner: "grower", cursor: first.cursor, added: many }), /at most 5000 runs/);
    const r = await waitForAny(ctx, undefined, 0, { owner: "grower", cursor: first.cursor, added: [] });
    assert.equal(r.watchLost, true, "the overgrown watch was dropped");
    // The runs of the last answer, which the caller received, do not count against the limit.
    await finish(runs[1]!);
    const full = await waitForAny(ctx, [runs[1]!.id, ...many.slice(0, MAX_WAIT_IDS - 1)], 5_000, { owner: "grower" });
    assert.deepEqual(full.runs.map((x) => x.id), [runs[1]!.id]);
    const topped = await waitForAny(ctx, undefined, 0, { owner: "grower", cursor: full.cursor, added: [`run_fakeextra`] });
    assert.deepEqual(topped, { runs: [], cursor: topped.cursor });
  });

  it("a poll that fails leaves no watch listening", async () => {
    const [run] = await mine(1);
    const before = ctx.events.listenerCount("finished");
    const failing = { ...ctx, store: { getRuns: async () => Promise.reject(new Error("store hiccup")) } } as unknown as PlatformContext;
    for (let i = 0; i < 5; i++) await assert.rejects(waitForAny(failing, [run!.id], 1_000), /store hiccup/);
    assert.equal(ctx.events.listenerCount("finished"), before);
  });
});
