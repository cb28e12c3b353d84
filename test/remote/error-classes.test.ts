// End to end: a caller catches each kind of failure by class (and by code), never by message text:
// a cancelled run, a timed-out run, a crashed worker, a missing deployment/serving/method (404)
// and a bad token (401), on a real platform.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fromJob, fromServing, NotFoundError, RemoteError, RunCancelledError, RunTimeoutError, UnauthorizedError, WorkerCrashError, type Run } from "../../src/index.ts";
import { eventually, importProject, REPO, startTestPlatform, wsName, type TestPlatform } from "../platform/jobs/_helpers.ts";

const ONLY = [RunCancelledError, RunTimeoutError, WorkerCrashError, NotFoundError, UnauthorizedError];

/** `e` is a `Class` (and a RemoteError with that class's code), and none of the other classes. */
function isOnly(e: unknown, Class: (typeof ONLY)[number]): boolean {
  assert.ok(e instanceof Class, `${String(e)} is a ${Class.name}`);
  assert.equal((e as { code: string }).code, Class.code);
  for (const Other of ONLY) if (Other !== Class) assert.ok(!(e instanceof Other), `${String(e)} is not a ${Other.name}`);
  return true;
}

describe("error classes a caller can catch", () => {
  let tp: TestPlatform;
  let jobs: any;
  let typed: any;
  before(async () => {
    tp = await startTestPlatform({ slots: 2 });
    ({ mod: jobs } = await importProject("basic"));
    const { mod } = await importProject(join(REPO, "test/platform/serving/fixtures/typed"));
    typed = await mod.Typed.deploy(wsName("errs-serving"), { client: tp.client });
  });
  after(async () => {
    await tp?.close();
  });

  it("a cancelled run rejects with RunCancelledError", async () => {
    const remote = await jobs.sleeper.deploy(wsName("errs-cancel"), { client: tp.client });
    const run: Run<number> = await remote.trigger(120_000);
    await eventually(async () => (await run.status()) === "running", 30_000, "run to start");
    assert.equal(await run.cancel(), "cancelled");
    await assert.rejects(run.result(), (e: any) => isOnly(e, RunCancelledError) && e instanceof RemoteError && e.runId === run.id);
  });

  it("a run past its timeout rejects with RunTimeoutError", async () => {
    const remote = await jobs.spin.deploy(wsName("errs-timeout"), { client: tp.client, resource: { timeoutMs: 300, maxRetries: 0 } });
    assert.equal(await remote(false), "done"); // warm: the limit is on the call, not the cold start
    await assert.rejects(remote(true), (e: any) => isOnly(e, RunTimeoutError) && typeof e.runId === "string");
  });

  it("a run whose worker process dies rejects with WorkerCrashError", async () => {
    const remote = await jobs.crash.deploy(wsName("errs-crash"), { client: tp.client, resource: { maxRetries: 0 } });
    await assert.rejects(remote(3), (e: any) => isOnly(e, WorkerCrashError) && e.remoteName === "WorkerCrashError");
  });

  it("a missing deployment, serving or method is a NotFoundError", async () => {
    await assert.rejects(fromJob("no-such-job", { workspace: wsName("errs-none") }), (e: any) => isOnly(e, NotFoundError));
    await assert.rejects(typed.noSuchMethod(), (e: any) => isOnly(e, NotFoundError) && e.status === 404);
    await assert.rejects(fromServing(typed.$url.replace(/Typed\/$/, "Nope/"), typed.$token), (e: any) => isOnly(e, NotFoundError));
  });

  it("a missing or wrong token is an UnauthorizedError", async () => {
    await assert.rejects(fromServing(typed.$url, "nbx_wrong"), (e: any) => isOnly(e, UnauthorizedError));
    const good: any = await fromServing(typed.$url, typed.$token);
    assert.equal(await good.label, "typed", "the right token passes");
    await assert.rejects(fromJob("anything", { url: tp.url, token: "nbx_wrong", workspace: "default" }), (e: any) => isOnly(e, UnauthorizedError));
  });
});
