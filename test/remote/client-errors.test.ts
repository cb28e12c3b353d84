// The platform API's coded failures reach SDK callers as the same typed classes as serving and run
// failures (NotFoundError, UnauthorizedError, RemoteError), and are still NboxErrors with their
// code, so `catch (e) { if (e instanceof NboxError) … }` and the CLI's error lines keep working.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { isNboxError, NboxError } from "../../src/errors.ts";
import { PlatformClient } from "../../src/remote/client.ts";
import { NotFoundError, RemoteError, UnauthorizedError } from "../../src/remote/remote-error.ts";
import { printError } from "../../src/cli/output.ts";
import { startTestPlatform, wsName, type TestPlatform } from "../platform/jobs/_helpers.ts";

/** What printError writes to stderr for `err`. */
function printed(err: unknown): string {
  const chunks: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => (chunks.push(String(s)), true)) as typeof process.stderr.write;
  try {
    printError(err);
  } finally {
    process.stderr.write = write;
  }
  return chunks.join("");
}

describe("API errors as typed classes", () => {
  let tp: TestPlatform;
  before(async () => {
    tp = await startTestPlatform();
  });
  after(async () => {
    await tp?.close();
  });

  it("a 404 from the API is a NotFoundError, a RemoteError and an NboxError with code and status", async () => {
    const ws = wsName("client-404");
    await tp.client.call("POST /workspaces", { body: { name: ws } }).catch(() => undefined);
    const err = await tp.client.call("GET /workspaces/{ws}/deployments/{name}", { params: { ws, name: "nope" } }).then(
      () => assert.fail("expected a 404"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof NotFoundError, String(err));
    assert.ok(err instanceof RemoteError);
    assert.ok(!(err instanceof UnauthorizedError));
    assert.ok(err instanceof NboxError && isNboxError(err));
    assert.equal((err as RemoteError).code, "NOT_FOUND");
    assert.equal((err as RemoteError).status, 404);
    assert.match((err as Error).message, /deployment "nope" not found/);
    // The CLI prints the platform's message as one line, without a class-name prefix or a stack.
    const out = printed(err);
    assert.match(out, /^error: deployment "nope" not found/);
    assert.doesNotMatch(out, /NotFoundError|RemoteError|\n\s+at /);
  });

  it("a 401 (wrong token) is an UnauthorizedError, a RemoteError and an NboxError", async () => {
    const client = new PlatformClient({ url: tp.url, token: "nbx_wrong" });
    const err = await client.call("GET /workspaces").then(
      () => assert.fail("expected a 401"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof UnauthorizedError, String(err));
    assert.ok(err instanceof RemoteError && err instanceof NboxError);
    assert.equal((err as RemoteError).status, 401);
    assert.ok(!(err instanceof NotFoundError));
  });

  it("an answer without a code from the list (a proxy's 502 page) stays a plain NboxError", async () => {
    const server = http.createServer((_req, res) => {
      res.statusCode = 502;
      res.end("<html>bad gateway</html>");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const client = new PlatformClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: "t" });
      const err = await client.call("GET /workspaces").then(
        () => assert.fail("expected a 502"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof NboxError && !(err instanceof RemoteError), String(err));
      assert.match((err as Error).message, /failed with HTTP 502/);
    } finally {
      server.close();
    }
  });
});
