// After a control-plane restart the servings' placements are read back from the store before any
// worker is told what it hosts (told nothing, it would stop every serving it runs), and one shown
// as not ready on a worker that lived on is placed there again, so the worker says how it is.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import type { PlatformContext } from "../../../src/platform/context.ts";
import { resolveConfig } from "../../../src/platform/config.ts";
import { ServingRouter } from "../../../src/platform/router/serving-router.ts";
import { openStore, type Store } from "../../../src/platform/store/index.ts";
import type { WorkerHub } from "../../../src/platform/workers/hub.ts";

describe("servings read back after a control-plane restart", () => {
  let dir: string;
  let store: Store;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "nbox-serving-restore-"));
    store = await openStore({ dataDir: dir });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a worker asking before the read-back is answered after it, with its servings; a serving not shown ready is placed on it again", async () => {
    const ws = await store.ensureWorkspace("restore");
    const serving = async (name: string, status: "ready" | "starting") => {
      const { deployment, version } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name, type: "serving", kind: "class", contentHash: `h-${name}`, lockfileHash: null, manifest: {}, bundleBytes: 1 });
      await store.upsertServingStatus({ deploymentId: deployment.id, status, versionId: version.id, workerId: "wrk_lived", urlPath: `/s/restore/${name}/` });
      return deployment.id;
    };
    const ready = await serving("Ready", "ready");
    const stale = await serving("Stale", "starting");

    const told: Array<[string, unknown]> = [];
    const hub = { liveWorkers: () => [{ id: "wrk_lived", address: "http://127.0.0.1:9" }], notify: (id: string, e: unknown) => void told.push([id, e]) } as unknown as WorkerHub;
    const ctx = { config: resolveConfig({}), store, publicUrl: "http://127.0.0.1:1" } as unknown as PlatformContext;
    const router = new ServingRouter(ctx, hub, new Hono());
    // The router's timer and the store's thread do not hold the process open; the platform's server does.
    const alive = setInterval(() => {}, 1_000);
    try {
      // The worker's heartbeat comes in before the restarted control plane has read its servings back.
      const asked = router.assignments("wrk_lived");
      router.start();
      const list = await asked;
      assert.deepEqual(list.map((a) => a.deploymentId).sort(), [ready, stale].sort(), "both servings, not an empty list");
      assert.deepEqual(told, [["wrk_lived", { servings: true }]], "the worker is asked about the one not shown ready");
      assert.equal((await store.getServing(ready))?.status, "ready", "the ready one is left as it is");
      assert.equal((await store.getServing(stale))?.workerId, "wrk_lived", "kept on the worker it lives on");
    } finally {
      clearInterval(alive);
      await router.close();
    }
  });
});
