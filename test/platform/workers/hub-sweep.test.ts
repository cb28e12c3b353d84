// The sweep that declares silent workers dead must not blame them for its own control plane's
// stall: after its event loop was blocked, heartbeats wait unread in its sockets, so the first
// (late) sweep hears them for one beat instead of declaring anyone dead. A worker another node saw
// go is forgotten by this one at its next sweep.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { PlatformContext } from "../../../src/platform/context.ts";
import { RunEvents } from "../../../src/platform/run-events.ts";
import { WorkerHub } from "../../../src/platform/workers/hub.ts";
import type { WorkerRow } from "../../../src/platform/store/schema.ts";

const LEASE_MS = 300; // heartbeats (and sweeps) every 100 ms

function hubWithSpiedStore() {
  const sweeps: number[] = [];
  let first!: () => void;
  const swept = new Promise<void>((r) => (first = r));
  const store = {
    async markWorkersGone() {
      sweeps.push(Date.now());
      first();
      return [];
    },
    async recoverStaleRuns() {
      return { requeued: [], retried: [], failed: [], cancelled: [] };
    },
    async listLiveWorkers() {
      return [];
    },
  };
  const ctx = { config: { leaseMs: LEASE_MS }, store, events: new RunEvents() } as unknown as PlatformContext;
  return { hub: new WorkerHub(ctx), sweeps, swept };
}

describe("worker sweep after a control-plane stall", () => {
  it("a sweep that comes far too late (the event loop was blocked) waits one beat before declaring anyone silent", async () => {
    const { hub, sweeps, swept } = hubWithSpiedStore();
    hub.start();
    const alive = setInterval(() => {}, 1_000); // the sweep's timer is unref'd
    try {
      const stallUntil = Date.now() + 3 * (LEASE_MS / 3) + 100;
      while (Date.now() < stallUntil); // a blocked event loop: the sweep's timer cannot fire
      const stallEnd = Date.now();
      await swept;
      assert.ok(sweeps[0]! - stallEnd >= (LEASE_MS / 3) * 0.9, `the first sweep after the stall ran ${sweeps[0]! - stallEnd} ms after it: it should have waited a beat`);
    } finally {
      clearInterval(alive);
      hub.stop();
    }
  });

  it("sweeps on time keep sweeping every beat", async () => {
    const { hub, sweeps } = hubWithSpiedStore();
    hub.start();
    try {
      while (sweeps.length < 3) await new Promise((r) => setTimeout(r, 20));
    } finally {
      hub.stop();
    }
  });
});

describe("workers another control-plane node saw go", () => {
  it("are forgotten at this node's next sweep: their entry and the runtime tokens it keeps for them", async () => {
    const rows = new Map<string, WorkerRow>();
    let seq = 0;
    const store = {
      async registerWorker(input: Omit<WorkerRow, "id" | "registeredAt" | "lastSeenAt" | "goneAt">) {
        const t = Date.now();
        const row = { ...input, id: `wrk_${++seq}`, registeredAt: t, lastSeenAt: t, goneAt: null } as WorkerRow;
        rows.set(row.id, row);
        return row;
      },
      async getWorker(id: string) {
        return rows.get(id) ?? null;
      },
      async listLiveWorkers() {
        return [...rows.values()].filter((w) => w.goneAt === null);
      },
      async markWorkersGone() {
        return [];
      },
      async recoverStaleRuns() {
        return { requeued: [], retried: [], failed: [], cancelled: [] };
      },
      async claimNextRuns() {
        return [];
      },
      async createRuntimeToken(workerId: string, workspaceId: string) {
        return { id: `tok_${workerId}_${workspaceId}`, secret: `secret_${workerId}_${workspaceId}`, revoked: [] };
      },
    };
    const lookups = { token: async () => ({ id: "tok" }) };
    const ctx = { config: { leaseMs: 60_000 }, store, events: new RunEvents(), lookups } as unknown as PlatformContext;
    const hub = new WorkerHub(ctx);
    const input = { name: "w", slots: 1, address: null, local: false, tokenId: "tok_worker" };
    const [a, b] = [await hub.register(input), await hub.register(input)];
    for (const w of [a, b]) await hub.runtimeTokens.forWorker(w.id, "ws_1");
    const kept = () => [...(hub.runtimeTokens as unknown as { held: Map<string, unknown> }).held.keys()].sort();
    assert.deepEqual(kept(), [`${a.id}/ws_1`, `${b.id}/ws_1`]);
    // `a` holds a claim open on the empty queue here.
    const claim = hub.claim(a.id, 4, [], 30_000);
    while (hub.claimsWaiting === 0) await new Promise((r) => setTimeout(r, 5));
    // Another node declared `a` gone (its sweep, or `a` left through it): this node never heard.
    rows.set(a.id, { ...rows.get(a.id)!, goneAt: Date.now() });
    await hub.sweep();
    assert.equal(hub.takeWaitingClaim("dep_1", 1), undefined, "its open claim is not handed new runs");
    const t0 = Date.now();
    assert.deepEqual(await claim, [], "its open claim is answered, empty");
    assert.ok(Date.now() - t0 < 5_000, "at once, not at the end of its wait");
    assert.deepEqual(hub.liveWorkers().map((w) => w.id), [b.id]);
    await assert.rejects(hub.get(a.id, "tok_worker"), /not registered/, "a request from it must register again");
    assert.deepEqual(kept(), [`${b.id}/ws_1`], "its runtime token is not kept here any more");
    assert.equal((await hub.get(b.id, "tok_worker")).id, b.id, "the live worker is untouched");
    hub.stop();
  });
});
