// A run whose new process cannot be launched yet — the control plane paced the re-mint of its
// workspace's runtime token (429 RATE_LIMITED with Retry-After) — goes back to the queue for that
// long with its attempt unspent, instead of failing as a version that cannot be prepared.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { PlatformClient } from "../../src/remote/client.ts";
import { RemoteError } from "../../src/remote/remote-error.ts";
import { RunExecutor, type RunExecutorDeps, type RunRow } from "../../src/worker/run-executor.ts";

const run = { id: "run_paced", versionId: "ver", attempt: 2, maxRetries: 0, retryBackoffMs: 0, args: [], workspaceId: "ws", deploymentId: "dep", timeoutMs: null, traceparent: null, cancelRequested: false } as unknown as RunRow;

function executorRefusedLaunch(refusal: Error) {
  const seen = { requeued: [] as Array<{ id: string; attempt?: number; scheduledFor: number | null }>, finished: [] as unknown[], system: [] as string[] };
  const output = {
    log: (_id: string, stream: string, line: string) => stream === "system" && seen.system.push(line),
    span() {},
    started() {},
    ended() {},
    finish: async (f: unknown) => void seen.finished.push(f),
    requeue: async (q: { id: string; attempt?: number; scheduledFor: number | null }) => (seen.requeued.push(q), true),
  };
  const deps = {
    me: { id: "wrk_paced" },
    pool: { has: () => false },
    output,
    versions: { manifest: async () => ({ entry: "ops.js", export: "f", kind: "fn", init: [], resource: {} }), prepare: async () => "/nonexistent" },
    launcher: {
      forWorkspace: async () => {
        throw refusal;
      },
    },
  } as unknown as RunExecutorDeps;
  return { executor: new RunExecutor(deps), seen };
}

describe("run executor: a launch refused for now", () => {
  it("puts the run back for as long as the control plane said, at the same attempt; nothing is finished", async () => {
    const refusal = RemoteError.from({ code: "RATE_LIMITED", message: "the runtime token of workspace ws was revoked repeatedly (5 times in a row on worker wrk_paced); a new one is minted in 8 s" }, { status: 429, retryAfterMs: 8_000 });
    const { executor, seen } = executorRefusedLaunch(refusal);
    const before = Date.now();
    const { settled } = await executor.execute(run);
    assert.deepEqual(await settled, { deferredMs: 8_000 });
    assert.deepEqual(seen.finished, [], "not failed");
    assert.equal(seen.requeued.length, 1);
    assert.equal(seen.requeued[0]!.attempt, 2, "its attempt is not spent");
    assert.ok(seen.requeued[0]!.scheduledFor! >= before + 8_000, "not taken again before the control plane allows");
    assert.match(seen.system.join("\n"), /revoked repeatedly.*back in the queue for 8 s \(attempt 2 not spent\)/);
  });

  it("a refusal that names no time waits a few seconds, not none (the queue would hand the run straight back)", async () => {
    const { executor, seen } = executorRefusedLaunch(RemoteError.from({ code: "RATE_LIMITED", message: "paced" }, { status: 429 }));
    const { settled } = await executor.execute(run);
    assert.deepEqual(await settled, { deferredMs: 5_000 });
    assert.equal(seen.requeued[0]!.attempt, 2);
  });

  it("other launch failures still fail the attempt as before", async () => {
    const { executor, seen } = executorRefusedLaunch(new Error("no token for you"));
    const { settled } = await executor.execute(run);
    assert.equal(await settled, "unrecoverable");
    assert.equal(seen.requeued.length, 0);
    assert.equal(seen.finished.length, 1);
  });

  it("a launch failing with something that is not an Error (undefined, a string) fails the attempt naming it", async () => {
    for (const thrown of [undefined, "no token"]) {
      const { executor, seen } = executorRefusedLaunch(thrown as unknown as Error);
      const { settled } = await executor.execute(run);
      assert.equal(await settled, "unrecoverable");
      assert.match(JSON.stringify(seen.finished[0]), new RegExp(String(thrown)), "the failure says what was thrown");
    }
  });
});

describe("platform client: Retry-After on a refusal", () => {
  it("the error carries how long the platform asked to wait", async () => {
    const server = createServer((_req, res) => {
      res.writeHead(429, { "content-type": "application/json", "retry-after": "7" });
      res.end(JSON.stringify({ error: { code: "RATE_LIMITED", message: "slow down" } }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const client = new PlatformClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: "t" });
      await assert.rejects(client.call("GET /workspaces"), (e: unknown) => {
        assert.ok(e instanceof RemoteError);
        assert.equal(e.code, "RATE_LIMITED");
        assert.equal(e.retryAfterMs, 7_000);
        return true;
      });
    } finally {
      server.close();
    }
  });
});
