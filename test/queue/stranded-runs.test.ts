// A queued run whose BullMQ job went missing (Redis lost keys: an old snapshot, an eviction, a
// cleanup) is queued again by the periodic check, on the real store and Redis; a run with its job,
// a run not queued any more and a run too young to judge are left alone.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { BullQueue } from "../../src/platform/queue/bull-queue.ts";
import { RunEvents } from "../../src/platform/run-events.ts";
import { openStore, type Store } from "../../src/platform/store/index.ts";
import { deploymentQueueName } from "../../src/queue/bullmq-names.ts";
import { TEST_REDIS_URL, deleteKeys, freshPrefix, redisSkip } from "./_redis.ts";

const skip = await redisSkip();

describe("queued runs whose job went missing", { skip }, () => {
  const prefix = freshPrefix();
  let dir: string;
  let store: Store;
  let queue: BullQueue;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "nbox-stranded-"));
    store = await openStore({ dataDir: dir });
    queue = new BullQueue(TEST_REDIS_URL, prefix, new RunEvents(), store);
  });
  after(async () => {
    await queue?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
    await deleteKeys(prefix);
  });

  it("are queued again; the others are left alone", { timeout: 30_000 }, async () => {
    const ws = await store.ensureWorkspace("stranded");
    const { deployment, version } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name: "job", type: "job", kind: "fn", contentHash: "h-stranded", lockfileHash: null, manifest: {}, bundleBytes: 1 });
    const make = (n: number) => store.createRuns(Array.from({ length: n }, (_, i) => ({ workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args: [i] })));
    const [kept, lost, claimed] = await make(3);
    await queue.enqueue([kept!, lost!, claimed!]);
    // Redis loses two jobs; one of those runs was claimed meanwhile (not queued: nothing to do for it).
    const redis = new Redis(TEST_REDIS_URL);
    const jobKey = (id: string) => `${prefix}:${deploymentQueueName(deployment.id)}:${id}`;
    await redis.del(jobKey(lost!.id), jobKey(claimed!.id));
    await store.claimRuns([claimed!.id], "wrk_x");
    const later = Date.now() + 5 * 60_000;
    assert.deepEqual(await queue.stranded.check(Date.now()), [], "too young to judge: its add may be under way");
    assert.deepEqual(await queue.stranded.check(later), [lost!.id]);
    assert.equal(await redis.exists(jobKey(lost!.id)), 1, "its job is back");
    assert.equal(await redis.exists(jobKey(claimed!.id)), 0);
    assert.deepEqual(await queue.stranded.check(later), [], "nothing left to do");
    redis.disconnect();
  });
});
