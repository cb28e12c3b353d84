// A wrapper's `type` option is invisible to TypeScript: a class wrapped as a job would get a
// serving's handle type from deploy(). deploy() refuses that before bundling and says where to put it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { operator } from "../../src/index.ts";
import { deploy } from "../../src/remote/deploy.ts";

@operator({ type: "job" })
class WrappedAsJob {
  forward(x: number) {
    return x + 1;
  }
}

test("a class wrapped with { type: 'job' } must be given its type at deploy", async () => {
  await assert.rejects(deploy(WrappedAsJob, "ws"), (err: Error & { code?: string; hint?: string }) => {
    assert.equal(err.code, "BAD_REQUEST");
    assert.match(err.message, /WrappedAsJob was wrapped with \{ type: "job" \}/);
    assert.match(err.hint ?? "", /deploy\(WrappedAsJob, workspace, \{ type: "job" \}\)/);
    return true;
  });
});
