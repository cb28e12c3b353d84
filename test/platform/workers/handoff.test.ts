// A trigger hands its runs straight to a worker whose claim waits on the empty embedded queue:
// created already claimed by it, no queue stop. Never ahead of older queued runs, never to a claim
// that left the deployment out, never to a claim that went away.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PlatformContext } from "../../../src/platform/context.ts";
import { createAndQueue } from "../../../src/platform/queue/create-and-queue.ts";
import { StoreQueue } from "../../../src/platform/queue/run-queue.ts";
import { RunEvents } from "../../../src/platform/run-events.ts";
import { openStore, type CreateRunInput, type Store } from "../../../src/platform/store/index.ts";
import type { FinishedRun } from "../../../src/platform/store/runs-repo.ts";
import { WorkerHub } from "../../../src/platform/workers/hub.ts";

const LEASE_MS = 20_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 5));
}

describe("handing new runs to a waiting claim", () => {
  let dir: string;
  let store: Store;
  let ctx: PlatformContext;
  let hub: WorkerHub;
  let input: (x: number) => CreateRunInput;
  let deploymentId: string;
  /** Workers w1…w5, registered with the hub (a claim is answered only for a worker it knows). */
  const W: Record<string, string> = {};

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "nbox-handoff-"));
    store = await openStore({ dataDir: dir });
    const events = new RunEvents();
    ctx = { config: { leaseMs: LEASE_MS }, store, events, queue: new StoreQueue(events) } as unknown as PlatformContext;
    hub = new WorkerHub(ctx);
    ctx.handoff = (d, n) => hub.takeWaitingClaim(d, n);
    for (const name of ["w1", "w2", "w3", "w4", "w5"]) W[name] = (await hub.register({ name, slots: 1, address: null, local: false, tokenId: "tok_handoff" })).id;
    const ws = await store.ensureWorkspace("handoff");
    const { deployment, version } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name: "job", type: "job", kind: "fn", contentHash: "h-handoff", lockfileHash: null, manifest: {}, bundleBytes: 1 });
    deploymentId = deployment.id;
    input = (x) => ({ workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args: [x] });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a run triggered while a claim waits on the empty queue is created claimed by that worker and handed to it", async () => {
    const claim = hub.claim(W.w1!, 4, [], 10_000);
    await until(() => hub.claimsWaiting === 1);
    const [run] = await createAndQueue(ctx, deploymentId, [input(1)]);
    assert.equal(run!.status, "running");
    assert.equal(run!.workerId, W.w1!);
    assert.deepEqual((await claim).map((r) => r.id), [run!.id]);
    const stored = (await store.getRun(run!.id))!;
    assert.equal(stored.status, "running");
    assert.equal(stored.workerId, W.w1!);
    assert.ok(stored.leaseExpiresAt! > Date.now() + LEASE_MS / 2, "held under a lease like any claim");
    assert.equal(stored.startedAt, null, "claimed, not started");
    await store.finishRun(run!.id, { status: "succeeded", result: 1, workerId: W.w1! });
  });

  it("runs handed to a claim arrive in its answer however long writing them takes (its recheck does not drop them)", async () => {
    // Writing the claimed runs takes longer than the claim's recheck interval (a busy store, a slow
    // Postgres): the claim must wait for them, not go round again and leave them to lapse back.
    const slowStore = { ...store, createRuns: async (...a: Parameters<Store["createRuns"]>) => (await sleep(700), store.createRuns(...a)) };
    const claim = hub.claim(W.w1!, 4, [], 5_000);
    await until(() => hub.claimsWaiting === 1);
    const [run] = await createAndQueue({ ...ctx, store: slowStore }, deploymentId, [input(11)]);
    assert.equal(run!.status, "running");
    assert.deepEqual((await claim).map((r) => r.id), [run!.id]);
    await store.finishRun(run!.id, { status: "succeeded", result: 11, workerId: W.w1! });
  });

  it("a claim that leaves the deployment out does not get it: the run is queued", async () => {
    const claim = hub.claim(W.w2!, 4, [deploymentId], 300);
    await until(() => hub.claimsWaiting === 1);
    const [run] = await createAndQueue(ctx, deploymentId, [input(2)]);
    assert.equal(run!.status, "queued");
    assert.deepEqual(await claim, []);
    const [taken] = await hub.claim(W.w2!, 4, [], 0);
    assert.equal(taken?.id, run!.id, "it waits in the queue for a claim that takes it");
    await store.finishRun(run!.id, { status: "succeeded", result: 2, workerId: W.w2! });
  });

  it("older queued runs go first: nothing is handed over while the queue may hold some", async () => {
    const [older] = await createAndQueue(ctx, deploymentId, [input(3)]);
    assert.equal(older!.status, "queued", "no claim was waiting");
    const [newer] = await createAndQueue(ctx, deploymentId, [input(4)]);
    assert.equal(newer!.status, "queued");
    assert.deepEqual((await hub.claim(W.w3!, 1, [], 0)).map((r) => r.id), [older!.id]);
    assert.deepEqual((await hub.claim(W.w3!, 1, [], 0)).map((r) => r.id), [newer!.id]);
    for (const r of [older!, newer!]) await store.finishRun(r.id, { status: "succeeded", result: 0, workerId: W.w3! });
  });

  it("a claim whose request went away is not handed anything", async () => {
    await hub.claim(W.w4!, 4, [], 0); // the queue is seen drained
    const gone = new AbortController();
    const claim = hub.claim(W.w4!, 4, [], 10_000, gone.signal);
    await until(() => hub.claimsWaiting === 1);
    gone.abort();
    assert.deepEqual(await claim, []);
    const [run] = await createAndQueue(ctx, deploymentId, [input(5)]);
    assert.equal(run!.status, "queued");
    await store.finishRun(run!.id, { status: "cancelled" });
  });

  it("a batch larger than the waiting claim asks for is queued", async () => {
    await hub.claim(W.w5!, 4, [], 0);
    const claim = hub.claim(W.w5!, 2, [], 5_000);
    await until(() => hub.claimsWaiting === 1);
    const runs = await createAndQueue(ctx, deploymentId, [input(6), input(7), input(8)]);
    assert.deepEqual(runs.map((r) => r.status), ["queued", "queued", "queued"]);
    assert.equal((await claim).length, 2, "the claim takes them from the queue instead");
  });

  it("a claim that leaves a deployment out (its limit filled by this worker's runs) is answered at once when one of that deployment's runs finishes, not at the end of its hold", { timeout: 30_000 }, async () => {
    let answered = false;
    const claim = hub.claim(W.w4!, 4, [deploymentId], 600_000).then((runs) => ((answered = true), runs));
    await sleep(50);
    ctx.events.emit("finished", "run_elsewhere", { deploymentId: "dep_elsewhere" } as FinishedRun);
    await sleep(50);
    assert.equal(answered, false, "a finish of a deployment it did not leave out changes nothing for it");
    ctx.events.emit("finished", "run_limited", { deploymentId } as FinishedRun);
    assert.deepEqual(await claim, [], "answered empty: the worker claims again with the deployment back in");
  });
});
