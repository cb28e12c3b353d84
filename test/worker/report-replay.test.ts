// A report the control plane applied but answered with an error (its store became unreachable after
// part of it: 503) or whose answer never came back (the connection reset) is sent again by the worker
// as it was. Its log lines carry the worker's numbers, through the contract to the store, so the run's
// log shows each line once.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { WorkerReport } from "../../src/contract/routes-worker.ts";
import type { PlatformContext } from "../../src/platform/context.ts";
import { StoreQueue } from "../../src/platform/queue/run-queue.ts";
import { RunEvents } from "../../src/platform/run-events.ts";
import { openStore } from "../../src/platform/store/index.ts";
import { ReportWriter } from "../../src/platform/workers/report.ts";
import { ControlPlane } from "../../src/worker/control-plane.ts";
import { ReportBatcher } from "../../src/worker/report-batcher.ts";
import { resolveConfig } from "../../src/platform/config.ts";

const WORKER = "wrk_replay";

describe("a worker report applied but not answered", () => {
  it("is sent again, and each log line is kept once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nbox-report-replay-"));
    const store = await openStore({ dataDir: dir });
    let server: Server | undefined;
    let batcher: ReportBatcher | undefined;
    try {
      const events = new RunEvents();
      const writer = new ReportWriter({ config: resolveConfig({ leaseMs: 20_000 }), store, events, queue: new StoreQueue(events) } as unknown as PlatformContext);
      const ws = await store.ensureWorkspace("replay");
      const { deployment, version } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name: "job", type: "job", kind: "fn", contentHash: "h-replay", lockfileHash: null, manifest: {}, bundleBytes: 1 });
      const created = await store.createRuns([0, 1].map((i) => ({ workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args: [i] })));
      const [a, b] = await store.claimRuns(created.map((r) => r.id), WORKER);
      // The worker API's report route as it behaves when things go wrong after applying: the first
      // request is answered 503, the second's connection is reset, the rest are answered.
      let requests = 0;
      server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          void (async () => {
            const out = await writer.apply(WorkerReport.parse(JSON.parse(Buffer.concat(chunks).toString("utf8"))));
            requests++;
            if (requests === 1) {
              res.writeHead(503, { "content-type": "application/json" });
              res.end(JSON.stringify({ error: { code: "UNAVAILABLE", message: "the store could not be reached" } }));
            } else if (requests === 2) {
              req.socket.destroy();
            } else {
              res.writeHead(200, { "content-type": "application/json" });
              res.end(JSON.stringify(out));
            }
          })();
        });
      });
      await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
      const { port } = server.address() as { port: number };
      batcher = new ReportBatcher(new ControlPlane(`http://127.0.0.1:${port}`, "nbx_test"), () => WORKER);
      batcher.log(a!.id, "stdout", "a1");
      batcher.log(b!.id, "stderr", "b1");
      batcher.log(a!.id, "stdout", "a2");
      await batcher.flush();
      assert.equal(requests, 3, "applied three times: twice unanswered, then answered");
      batcher.log(a!.id, "stdout", "a3");
      batcher.log(b!.id, "system", "b2");
      await batcher.flush();
      const lines = async (id: string) => (await store.getLogs(id)).map((l) => `${l.stream}:${l.line}`);
      assert.deepEqual(await lines(a!.id), ["stdout:a1", "stdout:a2", "stdout:a3"]);
      assert.deepEqual(await lines(b!.id), ["stderr:b1", "system:b2"]);
    } finally {
      await batcher?.close();
      await new Promise((r) => (server ? server.close(r) : r(undefined)));
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("does not hand back again a run this worker claimed again meanwhile", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nbox-report-replay-"));
    const store = await openStore({ dataDir: dir });
    let server: Server | undefined;
    let batcher: ReportBatcher | undefined;
    try {
      const events = new RunEvents();
      const writer = new ReportWriter({ config: resolveConfig({ leaseMs: 20_000 }), store, events, queue: new StoreQueue(events) } as unknown as PlatformContext);
      const ws = await store.ensureWorkspace("replay-back");
      const { deployment, version } = await store.upsertDeploymentVersion({ workspaceId: ws.id, name: "job", type: "job", kind: "fn", contentHash: "h-replay-back", lockfileHash: null, manifest: {}, bundleBytes: 1 });
      const created = await store.createRuns([0, 1].map((i) => ({ workspaceId: ws.id, deploymentId: deployment.id, versionId: version.id, args: [i] })));
      const [again, gone] = await store.claimRuns(created.map((r) => r.id), WORKER);
      // The first report (handing both runs back) is applied but its answer is lost; meanwhile a claim
      // held open at the control plane delivers one of them to this worker again, which starts it.
      let requests = 0;
      const bodies: Array<{ requeued?: Array<{ id: string }> }> = [];
      server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          void (async () => {
            const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
            bodies.push(body);
            const out = await writer.apply(WorkerReport.parse(body));
            if (++requests === 1) {
              await store.claimRuns([again!.id], WORKER);
              batcher!.hold([again!.id]);
              req.socket.destroy();
              return;
            }
            res.writeHead(200, { "content-type": "application/json" });
            res.end(JSON.stringify(out));
          })();
        });
      });
      await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
      const { port } = server.address() as { port: number };
      batcher = new ReportBatcher(new ControlPlane(`http://127.0.0.1:${port}`, "nbx_test"), () => WORKER);
      batcher.hold([again!.id, gone!.id]);
      const back = [batcher.requeue({ id: again!.id, attempt: 1, scheduledFor: null, error: null }), batcher.requeue({ id: gone!.id, attempt: 1, scheduledFor: null, error: null })];
      await batcher.flush();
      assert.equal(requests, 2);
      assert.deepEqual(bodies[1]!.requeued?.map((q) => q.id), [gone!.id], "sent again without the run claimed again");
      const now = await store.getRun(again!.id);
      assert.deepEqual([now?.status, now?.workerId], ["running", WORKER], "the run claimed again stays with its new call");
      assert.equal((await store.getRun(gone!.id))?.status, "queued");
      assert.deepEqual(batcher.held, [again!.id], "still held: the heartbeat renews it");
      await Promise.all(back);
    } finally {
      await batcher?.close();
      await new Promise((r) => (server ? server.close(r) : r(undefined)));
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
