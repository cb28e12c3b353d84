// The sweep that declares silent workers dead must not blame them for its own control plane's
// stall: after its event loop was blocked, heartbeats wait unread in its sockets, so the first
// (late) sweep hears them for one beat instead of declaring anyone dead.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { PlatformContext } from "../../../src/platform/context.ts";
import { RunEvents } from "../../../src/platform/run-events.ts";
import { WorkerHub } from "../../../src/platform/workers/hub.ts";

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
