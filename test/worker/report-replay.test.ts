// A report the control plane applied but answered with an error (its store became unreachable after
// part of it: 503) or whose answer never came back (the connection reset) is sent again by the worker.
// Its log lines carry the worker's numbers, through the contract to the store, so the run's log shows
// each line once; and a run it handed back, then claimed again meanwhile, is not handed back again.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { WorkerReport } from "../../src/contract/routes-worker.ts";
import { openStore, type Store } from "../../src/platform/store/index.ts";
import type { RunRow } from "../../src/platform/store/schema.ts";
import { ControlPlane } from "../../src/worker/control-plane.ts";
import { ReportBatcher } from "../../src/worker/report-batcher.ts";
import { heldRuns, reportWriter } from "../platform/workers/_report-fixture.ts";

const WORKER = "wrk_replay";

interface Scene {
  store: Store;
  batcher: ReportBatcher;
  /** Two runs the worker holds. */
  runs: RunRow[];
  /** The reports the route was sent, as sent. */
  bodies: Array<Record<string, unknown>>;
}

/**
 * The worker API's report route on a real embedded store: each report is applied, then `answer`
 * says what the worker hears of the n-th one (true: the answer; false: the route has written one
 * itself, or reset the connection).
 */
async function withScene(answer: (n: number, scene: Scene, req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>, body: (scene: Scene) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "nbox-report-replay-"));
  const store = await openStore({ dataDir: dir });
  const { writer } = reportWriter(store);
  const scene = { store, runs: await (await heldRuns(store, "replay"))(2, WORKER), bodies: [] } as unknown as Scene;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const sent = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        scene.bodies.push(sent);
        const out = await writer.apply(WorkerReport.parse(sent));
        if (!(await answer(scene.bodies.length, scene, req, res))) return;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(out));
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  scene.batcher = new ReportBatcher(new ControlPlane(`http://127.0.0.1:${(server.address() as { port: number }).port}`, "nbx_test"), () => WORKER);
  try {
    await body(scene);
  } finally {
    await scene.batcher.close();
    await new Promise((r) => server.close(r));
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("a worker report applied but not answered", () => {
  it("is sent again, and each log line is kept once", () =>
    withScene(
      // The first is answered 503, the second's connection is reset, the rest are answered.
      (n, _scene, req, res) => {
        if (n === 1) {
          res.writeHead(503, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: { code: "UNAVAILABLE", message: "the store could not be reached" } }));
        } else if (n === 2) req.socket.destroy();
        return n > 2;
      },
      async ({ store, batcher, runs: [a, b], bodies }) => {
        batcher.log(a!.id, "stdout", "a1");
        batcher.log(b!.id, "stderr", "b1");
        batcher.log(a!.id, "stdout", "a2");
        await batcher.flush();
        assert.equal(bodies.length, 3, "applied three times: twice unanswered, then answered");
        batcher.log(a!.id, "stdout", "a3");
        batcher.log(b!.id, "system", "b2");
        await batcher.flush();
        const lines = async (id: string) => (await store.getLogs(id)).map((l) => `${l.stream}:${l.line}`);
        assert.deepEqual(await lines(a!.id), ["stdout:a1", "stdout:a2", "stdout:a3"]);
        assert.deepEqual(await lines(b!.id), ["stderr:b1", "system:b2"]);
      },
    ));

  it("does not hand back again a run this worker claimed again meanwhile", () =>
    withScene(
      // The first report (handing both runs back) is applied but its answer is lost; meanwhile a
      // claim held open at the control plane delivers one of them to this worker again.
      async (n, { store, batcher, runs: [again] }, req) => {
        if (n > 1) return true;
        await store.claimRuns([again!.id], WORKER);
        batcher.hold([again!.id]);
        req.socket.destroy();
        return false;
      },
      async ({ store, batcher, runs: [again, gone], bodies }) => {
        batcher.hold([again!.id, gone!.id]);
        const back = [again, gone].map((r) => batcher.requeue({ id: r!.id, attempt: 1, scheduledFor: null, error: null }));
        await batcher.flush();
        assert.equal(bodies.length, 2);
        assert.deepEqual((bodies[1]!.requeued as Array<{ id: string }>).map((q) => q.id), [gone!.id], "sent again without the run claimed again");
        const now = await store.getRun(again!.id);
        assert.deepEqual([now?.status, now?.workerId], ["running", WORKER], "the run claimed again stays with its new call");
        assert.equal((await store.getRun(gone!.id))?.status, "queued");
        assert.deepEqual(batcher.held, [again!.id], "still held: the heartbeat renews it");
        await Promise.all(back);
      },
    ));
});
