// The executor's pace decides whether a worker holds runs ahead of its slots. A call still waiting
// for its process (a bundle being prepared, a cold start) holds up whatever waits behind it just as
// a long call does, so it must count as long once it has taken longer than a short call.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RunExecutor, type RunExecutorDeps, type RunRow } from "../../src/worker/run-executor.ts";
import { SHORT_CALL_MS } from "../../src/worker/prefetch.ts";

function executorWithVersions(manifest: (versionId: string) => Promise<never>) {
  const output = { log() {}, span() {}, started() {}, ended() {}, async finish() {}, async requeue() { return true; } };
  const deps = {
    me: { id: "wrk_pace" },
    pool: { has: () => false },
    output,
    versions: { manifest },
    launcher: {},
  } as unknown as RunExecutorDeps;
  return new RunExecutor(deps);
}

const run = (id: string, versionId: string) => ({ id, versionId, attempt: 1, maxRetries: 0, retryBackoffMs: 0, args: [], workspaceId: "ws", deploymentId: "dep" }) as unknown as RunRow;

describe("run executor pace", () => {
  it("a call still preparing its version counts as long once it took longer than a short call", async () => {
    let endSlow!: (err: Error) => void;
    const executor = executorWithVersions((versionId) =>
      versionId === "ver_slow" ? new Promise<never>((_, reject) => (endSlow = reject)) : Promise.reject(new Error("no such version")),
    );
    // A call that ends at once (its version cannot be prepared) makes the pace short.
    await executor.execute(run("run_quick", "ver_bad"));
    assert.equal(executor.callsAreShort, true);
    const slow = executor.execute(run("run_slow", "ver_slow"));
    assert.equal(executor.callsAreShort, true, "just handed over: not long yet");
    await new Promise((r) => setTimeout(r, SHORT_CALL_MS + 50));
    assert.equal(executor.callsAreShort, false, "preparing for longer than a short call: runs must not wait behind it");
    endSlow(new Error("gave up"));
    await slow;
    assert.equal(executor.running, 0);
  });
});
