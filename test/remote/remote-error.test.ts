// The SDK's error classes: one base, one class per failure a caller catches on its own, rebuilt
// from the wire by code; `instanceof` by brand and code, so it holds across two loaded copies of nbox.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ERROR_CODES, ERROR_STATUS, NboxError } from "../../src/errors.ts";
import { NotFoundError, RemoteError, RunCancelledError, RunTimeoutError, UnauthorizedError, WorkerCrashError } from "../../src/index.ts";

const CLASSES = { CANCELLED: RunCancelledError, TIMEOUT: RunTimeoutError, WORKER_CRASHED: WorkerCrashError, NOT_FOUND: NotFoundError, UNAUTHORIZED: UnauthorizedError } as const;

describe("RemoteError and its classes", () => {
  it("from(wire) picks the class by code; instanceof and code agree; the rest stays a RemoteError", () => {
    for (const [code, Class] of Object.entries(CLASSES)) {
      const e = RemoteError.from({ code, name: "X", message: "m" }, { status: ERROR_STATUS[code as keyof typeof CLASSES] });
      assert.ok(e instanceof Class, code);
      assert.ok(e instanceof RemoteError && e instanceof Error, code);
      assert.equal(e.code, code);
      assert.equal(e.name, Class.name);
      assert.equal(e.remoteName, "X");
      for (const [other, Other] of Object.entries(CLASSES)) if (other !== code) assert.ok(!(e instanceof Other), `${code} is not ${other}`);
    }
    const user = RemoteError.from({ code: "USER_CODE", name: "TypeError", message: "bad", stack: "TypeError: bad\n    at f (ops.ts:1:1)" }, { runId: "run_1" });
    assert.equal(user.constructor, RemoteError);
    assert.equal(user.message, "TypeError: bad (run run_1)");
    // A message that names its run already is not told it again.
    assert.equal(RemoteError.from({ code: "CANCELLED", message: "run run_1 was cancelled" }, { runId: "run_1" }).message, "run run_1 was cancelled");
    assert.equal(user.remoteStack, "TypeError: bad\n    at f (ops.ts:1:1)");
    assert.ok(!(user instanceof NboxError), "a user's error is not nbox's");
    assert.ok(RemoteError.from({ code: "BAD_ARGS", name: "ServingError", message: "m" }, { status: 400 }) instanceof NboxError);
  });

  it("codes outside the closed list map by status; a crashed serving's answer is a WorkerCrashError", () => {
    assert.equal(RemoteError.from({ code: "LOCKED", message: "m" }, { status: 404 }).code, "NOT_FOUND");
    assert.equal(RemoteError.from({ message: "m" }, { status: 401 }).constructor, UnauthorizedError);
    assert.equal(RemoteError.from(undefined, { status: 500 }).code, "USER_CODE");
    const crashed = RemoteError.from({ code: "WORKER_CRASHED", name: "ServingCrashed", message: "exited" }, { status: 503 });
    assert.ok(crashed instanceof WorkerCrashError && crashed.code === "WORKER_CRASHED" && crashed.status === 503);
    for (const c of Object.keys(CLASSES)) assert.ok((ERROR_CODES as readonly string[]).includes(c));
  });

  it("an NboxError of a class's code is caught by that class (e.g. a 404 from the platform API)", () => {
    const e = new NboxError("NOT_FOUND", 'deployment "x" not found');
    assert.ok(e instanceof NotFoundError);
    assert.ok(!(e instanceof UnauthorizedError));
    assert.ok(!(new Error("NOT_FOUND") instanceof NotFoundError), "a plain error is never one");
    assert.ok(!(Object.assign(new Error("x"), { code: "NOT_FOUND" }) instanceof NotFoundError), "a code alone is not enough: it must be nbox's");
  });

  it("two loaded copies of nbox recognise each other's errors", async () => {
    const second = new URL("../../src/remote/remote-error.ts?second-copy", import.meta.url).href;
    const other = (await import(second)) as typeof import("../../src/remote/remote-error.ts");
    assert.notEqual(other.RemoteError, RemoteError, "a distinct copy of the module");
    const theirs = other.RemoteError.from({ code: "TIMEOUT", message: "slow" }, { status: 504 });
    assert.ok(!Object.prototype.isPrototypeOf.call(RunTimeoutError.prototype, theirs), "not on our prototype chain");
    assert.ok(theirs instanceof RunTimeoutError && theirs instanceof RemoteError && theirs instanceof NboxError);
    const ours = new UnauthorizedError({ message: "no token" });
    assert.ok(ours instanceof other.UnauthorizedError && ours instanceof other.RemoteError);
    assert.ok(!(ours instanceof other.NotFoundError));
  });
});
