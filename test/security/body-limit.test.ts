// Only the two upload routes (PUT /bundles/<hash>, PUT /blobs/<hash>) are exempt from the general
// request-body limit, because they have limits of their own. A JSON route whose path merely
// contains "/bundles/" or "/blobs/" (a deployment or workspace of that name) must not be: its body
// would be buffered and parsed whole, whatever its size, by any workspace token.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestPlatform, wsName, type TestPlatform } from "../platform/serving/_helpers.ts";

const LIMIT = 16 * 1024;

describe("security: the request-body limit covers every JSON route", () => {
  let tp: TestPlatform;
  let ws: string;
  let token: string;

  before(async () => {
    tp = await startTestPlatform({ maxBodyBytes: LIMIT });
    ws = wsName("body");
    const minted = await tp.api("POST", "/tokens", { workspace: ws });
    assert.equal(minted.status, 201, JSON.stringify(minted.json));
    token = minted.json.secret;
  });

  after(async () => {
    await tp?.close();
  });

  const oversized = { args: ["x".repeat(LIMIT * 4)] };

  for (const name of ["bundles", "blobs"]) {
    it(`refuses an oversized trigger of a job named "${name}" with 413 before reading it`, async () => {
      const res = await tp.api("POST", `/workspaces/${ws}/deployments/${name}/runs`, oversized, token);
      assert.equal(res.status, 413, JSON.stringify(res.json));
      assert.equal(res.json.error.code, "PAYLOAD_TOO_LARGE");
    });
  }

  it("refuses an oversized body on other routes whose path names bundles or blobs", async () => {
    const res = await tp.api("POST", `/workspaces/${ws}/servings/bundles/token`, oversized, token);
    assert.equal(res.status, 413, JSON.stringify(res.json));
  });
});
