// At a start on BullMQ every job deployment's limit is set on its queue again: Redis may have lost
// it, and a limit kept while Redis was away died with the control plane that kept it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PlatformContext } from "../../../src/platform/context.ts";
import { syncConcurrency } from "../../../src/platform/queue/concurrency.ts";
import { openStore } from "../../../src/platform/store/index.ts";

describe("syncConcurrency", () => {
  it("sets each job deployment's limit from its current version, and nothing for servings", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nbox-sync-concurrency-"));
    const store = await openStore({ dataDir: dir });
    try {
      const ws = await store.ensureWorkspace("sync");
      const version = (name: string, type: "job" | "serving", manifest: Record<string, unknown>) =>
        store.upsertDeploymentVersion({ workspaceId: ws.id, name, type, kind: type === "job" ? "fn" : "class", contentHash: `h-${name}`, lockfileHash: null, manifest, bundleBytes: 1 });
      const limited = (await version("limited", "job", { resource: { concurrency: 3 } })).deployment;
      const free = (await version("free", "job", {})).deployment;
      await version("svc", "serving", { resource: { concurrency: 9 } });
      const set: Array<[string, number]> = [];
      const ctx = { store, queue: { setConcurrency: async (id: string, n: number) => void set.push([id, n]) } } as unknown as PlatformContext;
      await syncConcurrency(ctx);
      assert.deepEqual(set.sort(), [[free.id, 0], [limited.id, 3]].sort());
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
