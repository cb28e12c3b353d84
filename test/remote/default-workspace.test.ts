// Where SDK and CLI calls that name no workspace go: the token's own workspace (asked of the
// platform once per platform and token), "default" for an admin token, asked again after a failure.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { PlatformClient } from "../../src/remote/client.ts";

describe("PlatformClient.defaultWorkspace", () => {
  let server: http.Server;
  let url: string;
  const asked: string[] = [];
  let failNext = false;
  before(async () => {
    server = http.createServer((req, res) => {
      const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
      asked.push(`${req.url} ${token}`);
      if (failNext) {
        failNext = false;
        res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ ok: false, error: { code: "UNAVAILABLE", name: "NboxError", message: "busy" } }));
        return;
      }
      const workspace = token === "admin" ? null : { id: `ws_${token}`, name: `team-${token}`, createdAt: new Date(0).toISOString() };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: { id: "t", name: token, scope: workspace ? "workspace" : "admin" }, workspace }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it("a workspace token's own workspace, an admin token's \"default\"; one question per platform and token", async () => {
    assert.equal(await new PlatformClient({ url, token: "a" }).defaultWorkspace(), "team-a");
    assert.equal(await new PlatformClient({ url, token: "a" }).defaultWorkspace(), "team-a", "a second client of the same token");
    assert.equal(await new PlatformClient({ url, token: "b" }).defaultWorkspace(), "team-b");
    assert.equal(await new PlatformClient({ url, token: "admin" }).defaultWorkspace(), "default");
    assert.deepEqual(asked, ["/api/v1/whoami a", "/api/v1/whoami b", "/api/v1/whoami admin"]);
  });

  it("a failed question rejects with the platform's error and is asked again next time", async () => {
    asked.length = 0;
    failNext = true;
    const client = new PlatformClient({ url, token: "c" });
    await assert.rejects(client.defaultWorkspace(), (e: Error & { code?: string }) => e.code === "UNAVAILABLE");
    assert.equal(await client.defaultWorkspace(), "team-c");
    assert.equal(asked.length, 2);
  });
});
