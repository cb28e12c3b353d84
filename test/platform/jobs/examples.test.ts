// End to end: the examples deployed as jobs on a real platform, called, looked up by name/id,
// triggered as runs (status, result, logs, spans) and traced from the caller's span.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fromJob, getTracer, Run } from "../../../src/index.ts";
import { PlatformClient } from "../../../src/remote/client.ts";
import { importProject, REPO, startTestPlatform, wsName, type TestPlatform, totalSlots } from "./_helpers.ts";

describe("jobs e2e: examples", () => {
  let tp: TestPlatform;
  before(async () => {
    tp = await startTestPlatform();
  });
  after(async () => {
    await tp?.close();
  });

  it("examples/foo: remote results equal local ones; fromJob by name and by id", async () => {
    const ws = wsName("foo");
    const { mod } = await importProject(join(REPO, "examples/foo"));
    const fooRemote = await mod.foo.deploy(ws, { client: tp.client });
    assert.equal(fooRemote.deployment.name, "foo");
    assert.equal(fooRemote.deployment.type, "job");
    assert.equal(await fooRemote(10), await mod.foo(10));
    assert.equal(await fooRemote(10), 100);
    assert.equal(await fooRemote(), 16);

    const byName = await fromJob<typeof mod.foo>("foo", { workspace: ws, url: tp.url, token: tp.token });
    assert.equal(await byName(3), 9);
    const byId = await fromJob<typeof mod.foo>(fooRemote.deployment.id, { workspace: ws, url: tp.url, token: tp.token });
    assert.equal(byId.deployment.id, fooRemote.deployment.id);
    assert.equal(await byId(5), 25);
    // By id alone: no workspace needed.
    const idOnly = await fromJob<typeof mod.foo>(fooRemote.deployment.id, { url: tp.url, token: tp.token });
    assert.equal(idOnly.deployment.name, "foo");
    assert.equal(await idOnly(7), 49);
    // A workspace token of another workspace cannot latch onto it by id.
    const other = await tp.api("POST", "/tokens", { workspace: wsName("foo-other") });
    await assert.rejects(fromJob(fooRemote.deployment.id, { url: tp.url, token: other.json.secret }), (e: any) => e.code === "FORBIDDEN");
    // Without explicit options: NBOX_URL / NBOX_TOKEN.
    const byEnv = await fromJob("foo", { workspace: ws });
    assert.equal(await byEnv(6), 36);
  });

  it("a workspace token that names no workspace deploys, finds and lists in its own (not in \"default\")", async () => {
    const ws = wsName("own");
    const { secret, token } = (await tp.api("POST", "/tokens", { workspace: ws, name: "own" })).json;
    const asTeam = new PlatformClient({ url: tp.url, token: secret });
    assert.deepEqual(await asTeam.call("GET /whoami"), { token: { id: token.id, name: "own", scope: "workspace" }, workspace: (await asTeam.call("GET /workspaces")).workspaces[0] });
    assert.equal((await tp.client.call("GET /whoami")).workspace, null, "an admin token has no workspace of its own");
    const { mod } = await importProject(join(REPO, "examples/foo"));
    const remote = await mod.foo.deploy(undefined, { client: asTeam });
    assert.equal(remote.deployment.workspace, ws);
    const found = await fromJob<typeof mod.foo>("foo", { url: tp.url, token: secret });
    assert.equal(found.deployment.id, remote.deployment.id);
    assert.equal(await found(4), 16);
    const listed = await asTeam.call("GET /runs", { query: {} });
    assert.deepEqual(listed.runs.map((r) => [r.workspace, r.result]), [[ws, 16]]);
  });

  it("fromJob of an unknown deployment fails with a 404 naming it", async () => {
    const ws = wsName("none");
    await tp.client.call("POST /workspaces", { body: { name: ws } });
    await assert.rejects(fromJob("nope-not-here", { workspace: ws, url: tp.url, token: tp.token }), (e: any) => {
      assert.equal(e.code, "NOT_FOUND");
      assert.match(e.message, /nope-not-here/);
      return true;
    });
  });

  it("trigger → Run handle: status, result, logs in order with streams", async () => {
    const ws = wsName("chatty");
    const { mod } = await importProject("basic");
    const remote = await mod.chatty.deploy(ws, { client: tp.client });
    const run: Run<number> = await remote.trigger(5);
    assert.match(run.id, /^run/);
    assert.ok(["queued", "running", "succeeded"].includes(await run.status()));
    assert.equal(await run.result(), 5);
    assert.equal(await run.status(), "succeeded");
    const logs = await run.logs();
    const out = logs.filter((l) => l.stream === "stdout").map((l) => l.line);
    assert.deepEqual(out, ["line 0", "line 1", "line 2", "line 3", "line 4"]);
    assert.deepEqual(
      logs.filter((l) => l.stream === "stderr").map((l) => l.line),
      ["to stderr"],
    );
    // seq numbers are increasing: the log is one ordered stream.
    for (let i = 1; i < logs.length; i++) assert.ok(logs[i]!.seq > logs[i - 1]!.seq, "seq increases");
    assert.ok(logs.some((l) => l.stream === "system"), "executor notes are in the log too");
    // A later page only has newer lines.
    const tail = await run.logs({ afterSeq: logs[1]!.seq });
    assert.deepEqual(tail.map((l) => l.seq), logs.slice(2).map((l) => l.seq));

    // A second run has its own log (the run id is the only correlation).
    const run2: Run<number> = await remote.trigger(2);
    assert.equal(await run2.result(), 2);
    assert.deepEqual((await run2.logs()).filter((l) => l.stream === "stdout").map((l) => l.line), ["line 0", "line 1"]);
  });

  it("a line printed after the run returned still lands in that run's log", async () => {
    const ws = wsName("afterglow");
    const { mod } = await importProject("basic");
    const remote = await mod.afterglow.deploy(ws, { client: tp.client });
    const run: Run<number> = await remote.trigger(50);
    assert.equal(await run.result(), 50);
    let out: string[] = [];
    for (let i = 0; i < 100 && !out.includes("after return 50"); i++) {
      await new Promise((r) => setTimeout(r, 50));
      out = (await run.logs()).filter((l) => l.stream === "stdout").map((l) => l.line);
    }
    assert.deepEqual(out, ["after return 50"]);
  });

  it("examples/my-operator: the exported instance `job` runs the operator tree with its Shell step", async () => {
    const ws = wsName("myop");
    const { mod } = await importProject(join(REPO, "examples/my-operator"));
    const local = await mod.job(2);
    assert.equal(local, 11);
    const remote = await mod.job.deploy(ws, { client: tp.client });
    assert.equal(remote.deployment.name, "job");

    // First run is a cold start: made inside a caller span so the whole trace hangs under it.
    const tracer = getTracer();
    let callerSpanId = "";
    let callerTraceId = "";
    const run: Run<number> = await tracer.withSpan("caller", async (span: any) => {
      callerSpanId = span.spanId;
      callerTraceId = span.traceId;
      return remote.trigger(2);
    });
    assert.equal(await run.result(), 11);
    const logs = await run.logs();
    assert.ok(logs.some((l) => l.stream === "stdout" && l.line === "step 3"), `Shell output in the run log: ${JSON.stringify(logs)}`);

    const spans = await run.spans();
    const names = spans.map((s) => s.op);
    assert.ok(spans.every((s) => s.traceId === callerTraceId), "every span is in the caller's trace");
    const root = spans.find((s) => s.name === "MyOperator");
    assert.ok(root, `root span in ${JSON.stringify(names)}`);
    assert.equal(root.parentSpanId, callerSpanId, "the caller's span is the parent of the run's root span");
    const b = spans.find((s) => s.name === "Doubler");
    const echo = spans.find((s) => s.name === "Shell");
    assert.ok(b && echo, `child spans in ${JSON.stringify(spans.map((s) => [s.op, s.name]))}`);
    assert.equal(b.parentSpanId, root.spanId);
    assert.equal(echo.parentSpanId, root.spanId);
    const cold = spans.find((s) => s.op === "cold-start");
    assert.ok(cold, `cold-start span in ${JSON.stringify(names)}`);
    assert.equal(cold.parentSpanId, callerSpanId);
    assert.ok(spans.every((s) => s.status === "ok"));

    // Calling (not triggering) inside a span: the run nests under the client span of the call.
    const seen: string[] = [];
    await tracer.withSpan("caller2", async (span: any) => {
      seen.push(span.spanId);
      assert.equal(await remote(4), 4 + (1 + 4) * 3);
    });
    const last = (await tp.client.call("GET /runs", { query: { workspace: ws, limit: 1 } })).runs[0]!;
    const spans2 = await new Run(tp.client, last.id).spans();
    const root2 = spans2.find((s) => s.name === "MyOperator")!;
    const clientSpan = tracer.memory.spans().find((s: any) => s.spanId === root2.parentSpanId);
    assert.ok(clientSpan, "root span's parent is a span of this process");
    assert.equal(clientSpan.parentSpanId, seen[0]);
    // With one worker the second call reuses the warm process; with several it may land on another one.
    if (totalSlots(1) === 1) assert.ok(!spans2.some((s) => s.op === "cold-start"), "a warm process has no cold start");
  });

  it("examples/my-operator: a non-exported instance of the exported class is rebuilt from its snapshot", async () => {
    const ws = wsName("myop-class");
    const { mod } = await importProject(join(REPO, "examples/my-operator"));
    const inst = new mod.MyOperator(2, 5);
    inst.a = 7; // state changed after construction: the snapshot carries it
    assert.equal(await inst(2), (7 + 2) * 5 + 2);
    const remote = await inst.deploy(ws, { client: tp.client });
    assert.equal(remote.deployment.name, "MyOperator");
    assert.equal(remote.deployment.kind, "operator");
    assert.equal(await remote(2), (7 + 2) * 5 + 2);
    assert.equal(await remote(0), (7 + 0) * 5 + 0);
  });
});
