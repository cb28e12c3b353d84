// Inside a job or serving process, the SDK's client made from the injected NBOX_TOKEN asks the
// worker for the workspace's token now when the platform refuses that one (it was revoked), and
// sends the refused request once more. Clients given a token explicitly, and processes outside a
// runtime, never do.
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "../../src/remote/client.ts";
import { RUNTIME_ENV, renewRuntimeToken, setRuntimeTokenRenewer } from "../../src/runtime-context.ts";

const OLD = "nbx_old";
const NEW = "nbx_new";

describe("the injected token, renewed after a 401", () => {
  let server: http.Server;
  let url: string;
  const seen: string[] = [];
  const saved = { runtime: process.env[RUNTIME_ENV], url: process.env.NBOX_URL, token: process.env.NBOX_TOKEN };
  let renewals = 0;
  let renewTo: string | undefined;
  let renewRefused: string | undefined;

  before(async () => {
    // Accepts only NEW; answers who asked.
    server = http.createServer((req, res) => {
      const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
      seen.push(token);
      const ok = token === NEW;
      res.writeHead(ok ? 200 : 401, { "content-type": "application/json" });
      res.end(JSON.stringify(ok ? { workspaces: [] } : { ok: false, error: { code: "UNAUTHORIZED", name: "NboxError", message: "invalid or revoked token" } }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    setRuntimeTokenRenewer(async () => {
      renewals++;
      await new Promise((r) => setTimeout(r, 20));
      if (renewRefused) throw new Error(renewRefused);
      return renewTo;
    });
  });

  afterEach(() => {
    seen.length = 0;
    renewals = 0;
    renewRefused = undefined;
    for (const [k, v] of [[RUNTIME_ENV, saved.runtime], ["NBOX_URL", saved.url], ["NBOX_TOKEN", saved.token]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  after(() => {
    server.close();
    setRuntimeTokenRenewer(async () => undefined);
  });

  const inRuntime = () => Object.assign(process.env, { [RUNTIME_ENV]: "job", NBOX_URL: url, NBOX_TOKEN: OLD });

  it("requests refused at the same moment share one renewal, then go again with the new token", async () => {
    inRuntime();
    renewTo = NEW;
    const client = connect();
    const answers = await Promise.all([client.call("GET /workspaces"), client.call("GET /workspaces"), connect().call("GET /workspaces")]);
    assert.equal(answers.length, 3);
    assert.equal(renewals, 1);
    assert.deepEqual(seen.sort(), [NEW, NEW, NEW, OLD, OLD, OLD]);
    assert.equal(process.env.NBOX_TOKEN, NEW, "the process's environment carries the new token");
    assert.equal(client.token, NEW, "a client made before follows it");
    seen.length = 0;
    await client.call("GET /workspaces");
    assert.deepEqual(seen, [NEW], "later requests go with the new token at once");
  });

  it("no new token to be had: the 401 reaches the caller, after one question", async () => {
    inRuntime();
    renewTo = undefined;
    await assert.rejects(connect().call("GET /workspaces"), (e: { code?: string }) => e.code === "UNAUTHORIZED");
    assert.equal(renewals, 1);
    assert.deepEqual(seen, [OLD]);
  });

  it("the worker was told why there is no new token: the 401 says so", async () => {
    inRuntime();
    renewRefused = "the runtime token of workspace ws1 was revoked repeatedly (4 times in a row on worker wrk_1); a new one is minted in 2 s";
    const client = connect();
    const all = await Promise.allSettled([client.call("GET /workspaces"), client.call("GET /workspaces")]);
    assert.equal(renewals, 1, "one question for both");
    for (const r of all) {
      assert.equal(r.status, "rejected");
      const e = (r as PromiseRejectedResult).reason as Error & { code?: string };
      assert.equal(e.code, "UNAUTHORIZED");
      assert.match(e.message, /invalid or revoked token; no new token could be had: the runtime token of workspace ws1 was revoked repeatedly/);
    }
    assert.equal(process.env.NBOX_TOKEN, OLD);
  });

  it("a token given explicitly, or a process outside a runtime, is never renewed", async () => {
    inRuntime();
    renewTo = NEW;
    await assert.rejects(connect({ token: OLD }).call("GET /workspaces"), (e: { code?: string }) => e.code === "UNAUTHORIZED");
    delete process.env[RUNTIME_ENV];
    await assert.rejects(connect().call("GET /workspaces"), (e: { code?: string }) => e.code === "UNAUTHORIZED");
    assert.equal(await renewRuntimeToken(OLD), undefined);
    assert.equal(renewals, 0);
    assert.deepEqual(seen, [OLD, OLD]);
  });
});
