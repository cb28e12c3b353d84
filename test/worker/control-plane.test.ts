// A call the worker persists (reports, heartbeats) is retried while the control plane answers 5xx,
// and says so once after a few failures, with the control plane's message (an internal error's
// reference, to find in its log) — not silently forever, not once per retry.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { ControlPlane } from "../../src/worker/control-plane.ts";

describe("worker → control plane", () => {
  it("a persisted call retries through internal errors and says so once", { timeout: 30_000 }, async () => {
    let calls = 0;
    const server = createServer((_req, res) => {
      calls++;
      res.setHeader("content-type", "application/json");
      if (calls <= 7) {
        res.statusCode = 500;
        res.end(JSON.stringify({ ok: false, error: { code: "INTERNAL", name: "InternalError", message: "internal error 0badc0de; the control plane's log has the details" } }));
      } else res.end(JSON.stringify({ ok: true }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const logged: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void logged.push(args.join(" "));
    try {
      const cp = new ControlPlane(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, "nbx_test");
      assert.deepEqual(await cp.persist("POST /worker/leave", undefined, { body: { workerId: "wrk_x" } }), { ok: true });
    } finally {
      console.error = original;
      server.close();
    }
    assert.equal(calls, 8);
    const said = logged.filter((l) => l.includes("keeps failing"));
    assert.equal(said.length, 1, logged.join("\n"));
    assert.match(said[0]!, /POST \/worker\/leave .*0badc0de/);
  });
});
