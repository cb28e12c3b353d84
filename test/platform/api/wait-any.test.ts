// The long-poll behind remote map resumes from a cursor: the next poll reads back only the runs
// heard finishing since and the ids it added, yet misses nothing — not a run that finished between
// polls, not an added run that finished long before, not a finish this control plane never heard
// (another node's), which the periodic full read still finds. Other workspaces' runs never answer.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PlatformContext } from "../../../src/platform/context.ts";
import { waitForAny } from "../../../src/platform/api/wait-any.ts";
import { FinishedFeed } from "../../../src/platform/finished-feed.ts";
import { RunEvents } from "../../../src/platform/run-events.ts";
import { openStore, type Store } from "../../../src/platform/store/index.ts";
import type { RunRow } from "../../../src/platform/store/schema.ts";

describe("FinishedFeed", () => {
  it("answers the ids heard after a position, and null once it no longer reaches back that far", () => {
    const feed = new FinishedFeed(3);
    assert.equal(feed.position, 0);
    assert.deepEqual(feed.since(0), []);
    for (const id of ["a", "b", "c", "d", "e"]) feed.push(id);
    assert.equal(feed.position, 5);
    assert.deepEqual(feed.since(3), ["d", "e"]);
    assert.deepEqual(feed.since(5), []);
    feed.push("f"); // six kept ids: the oldest three go
    assert.equal(feed.position, 6);
    assert.deepEqual(feed.since(3), ["d", "e", "f"]);
    assert.equal(feed.since(2), null, "c is gone: a cursor before it cannot be served");
    assert.equal(feed.since(7), null, "a position from the future (or another process) is refused");
    assert.equal(feed.since(1.5), null);
  });
});

describe("waitForAny with a cursor", () => {
  let dir: string;
  let store: Store;
  let ctx: PlatformContext;
  let reads: string[][];
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

  it("the next poll reads only what finished since and what it added, and still finds both", async () => {
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
    assert.equal(reads.length, 1);
    assert.deepEqual(reads[0]!.sort(), [ids[7], late!.id].sort(), "only the run heard finishing and the added one are read");

    // Nothing finished since: the poll waits, and answers with the next finish it hears.
    const rest = watch.filter((id) => id !== ids[7] && id !== late!.id);
    reads = [];
    const waiting = waitForAny(ctx, rest, 5_000, { cursor: second.cursor, added: [] });
    await new Promise((r) => setTimeout(r, 50));
    await finish(runs[9]!);
    const third = await waiting;
    assert.deepEqual(third.runs.map((r) => r.id), [ids[9]]);
    assert.deepEqual(reads, [], "the finisher's row needs no read back");
  });

  it("a finish this control plane never heard is found by the full read a cursor cannot skip for long", async () => {
    const runs = await mine(5);
    const ids = runs.map((r) => r.id);
    await finish(runs[0]!);
    const first = await waitForAny(ctx, ids, 5_000);
    await finish(runs[1]!, { heard: false }); // finished through another node
    const rest = ids.slice(1);
    const t0 = Date.now();
    let got: RunRow[] = [];
    let cursor = first.cursor;
    while (got.length === 0 && Date.now() - t0 < 5_000) ({ runs: got, cursor } = await waitForAny(ctx, rest, 300, { cursor, added: [] }));
    assert.deepEqual(got.map((r) => r.id), [ids[1]]);
  });

  it("a cursor of another process or from too far back falls back to reading every watched run", async () => {
    const runs = await mine(3);
    const ids = runs.map((r) => r.id);
    await finish(runs[2]!);
    for (const cursor of ["0123abcd.1.99999999999999", "garbage", `${ctx.events.finishedFeed.epoch}.999999999.${Date.now()}`]) {
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
    const visible = (r: RunRow) => r.workspaceId === wsId;
    const waiting = waitForAny(ctx, [foreign[0]!.id, foreign[1]!.id, own!.id], 5_000, { visible });
    await new Promise((r) => setTimeout(r, 50));
    await finish(foreign[1]!);
    await new Promise((r) => setTimeout(r, 50));
    await finish(own!);
    const got = await waiting;
    assert.deepEqual(got.runs.map((r) => r.id), [own!.id]);
    const none = await waitForAny(ctx, foreign.map((r) => r.id), 300, { visible });
    assert.deepEqual(none.runs, []);
  });
});
