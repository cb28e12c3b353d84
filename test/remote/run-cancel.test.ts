// Run.cancel() resolves only once the run is terminal, and gives up with a clear error when the
// worker never stops it. A scripted client stands in for the platform (the end-to-end case is in
// test/examples/seed-parity.test.ts).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { PlatformClient } from "../../src/remote/client.ts";
import { Run } from "../../src/remote/run.ts";
import type { RunStatus } from "../../src/remote/types.ts";

/** A client whose run reports `statuses` in turn, one per request (the last one repeats). */
function scripted(statuses: RunStatus[]) {
  const calls: string[] = [];
  const client = {
    async call(route: string, input: { params?: Record<string, string>; query?: Record<string, unknown> } = {}) {
      const path = route.replace(/\{(\w+)\}/g, (_m, k: string) => input.params?.[k] ?? "");
      const q = new URLSearchParams(Object.entries(input.query ?? {}).map(([k, v]): [string, string] => [k, String(v)])).toString();
      calls.push(q ? `${path}?${q}` : path);
      const status = statuses.length > 1 ? statuses.shift()! : statuses[0]!;
      return { run: { id: "run_1", status } };
    },
  } as unknown as PlatformClient;
  return { client, calls };
}

describe("Run.cancel()", () => {
  it("asks the platform to wait for the stop, then keeps waiting until the run is terminal", async () => {
    const { client, calls } = scripted(["running", "running", "cancelled"]);
    assert.equal(await new Run(client, "run_1").cancel(), "cancelled");
    // The SDK never shows the arguments: its answers leave them out.
    assert.match(calls[0]!, /^POST \/runs\/run_1\/cancel\?timeoutMs=\d+&withArgs=false$/);
    assert.deepEqual(calls.slice(1).map((c) => c.replace(/timeoutMs=\d+/, "timeoutMs=N")), ["GET /runs/run_1/wait?timeoutMs=N&withArgs=false", "GET /runs/run_1/wait?timeoutMs=N&withArgs=false"]);
  });

  it("returns how the run ended when it finished before the cancel landed", async () => {
    const { client } = scripted(["succeeded"]);
    assert.equal(await new Run(client, "run_1").cancel(), "succeeded");
  });

  it("a run still going after timeoutMs rejects with a TIMEOUT error naming the run", async () => {
    const { client } = scripted(["running"]);
    await assert.rejects(new Run(client, "run_1").cancel({ timeoutMs: 50 }), (e: any) => {
      assert.equal(e.code, "TIMEOUT");
      assert.match(e.message, /run run_1 was asked to cancel but is still running after 50 ms/);
      assert.match(e.hint, /worker/);
      return true;
    });
  });
});
