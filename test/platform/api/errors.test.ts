// An unexpected error answers 500 with a reference to the control plane's log, never its message:
// a failed statement's text and parameters stay on the server.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Hono } from "hono";
import { onApiError } from "../../../src/platform/api/errors.ts";

describe("API errors", () => {
  it("an unexpected error keeps its details in the log and gives the caller a reference", async () => {
    const app = new Hono();
    app.onError(onApiError);
    app.get("/boom", () => {
      throw new Error('Failed query: select * from tokens where secret_hash = $1\nparams: 5e3cr3t');
    });
    const logged: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void logged.push(args.map((a) => (a instanceof Error ? a.message : String(a))).join(" "));
    let res: Response;
    try {
      res = await app.request("/boom");
    } finally {
      console.error = original;
    }
    assert.equal(res.status, 500);
    const body = (await res.json()) as { ok: boolean; error: { code: string; message: string } };
    assert.equal(body.error.code, "INTERNAL");
    assert.doesNotMatch(body.error.message, /5e3cr3t|select/);
    const ref = /internal error ([0-9a-f]{8})/.exec(body.error.message)?.[1];
    assert.ok(ref, body.error.message);
    assert.ok(logged.some((l) => l.includes(ref) && l.includes("5e3cr3t")), "the log has the reference and the details");
  });
});
