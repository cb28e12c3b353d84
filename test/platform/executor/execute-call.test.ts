import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fromWire, toWire } from "../../../src/codec/index.ts";
import type { OperatorKind } from "../../../src/operator/locate.ts";
import { ProcessPool, executeCall, type CallOutcome, type ExecuteCallOptions } from "../../../src/worker/jobs/index.ts";
import { OPS } from "./ops-fixture.ts";
import { PARENT_SPAN, TRACEPARENT, TRACE_ID, recorder, runId, tempProject, type TempProject } from "./_project.ts";

let project: TempProject;
let pool: ProcessPool;
/** Lines the pool's processes printed outside any call in flight, with the run the pool names for each. */
const stray: Array<{ runId: string | undefined; line: string }> = [];

before(async () => {
  project = await tempProject(OPS);
  pool = new ProcessPool({ slots: 2, idleMs: 30_000, onStrayLog: (_proc, _stream, line, runId) => void stray.push({ runId, line }) });
});
after(async () => {
  await pool.close();
  await project.cleanup();
});

type CallOpts = Partial<ExecuteCallOptions> & { kind?: OperatorKind; init?: unknown[] };

/** One call of export `name` (the key is the export, like one deployment version per export). */
function call(name: string, args: unknown[], o: CallOpts = {}): Promise<CallOutcome> {
  const { kind = "fn", init = [], ...rest } = o;
  return executeCall(pool, {
    key: `${project.dir}#${name}`,
    bundleDir: project.dir,
    locator: project.locator(name, kind, init.map((a) => toWire(a))),
    runId: runId(),
    args: args.map((a) => toWire(a)),
    ...rest,
  });
}

function value(r: CallOutcome): unknown {
  if (!r.ok) assert.fail(`call failed (${r.reason}): ${(fromWire(r.error) as Error).stack ?? ""}`);
  return fromWire(r.value);
}

function failure(r: CallOutcome, reason: string): Error {
  assert.equal(r.ok, false, "call should have failed");
  if (r.ok) throw new Error("unreachable");
  assert.equal(r.reason, reason, `reason (error: ${(fromWire(r.error) as Error).message})`);
  return fromWire(r.error) as Error;
}

describe("executeCall", () => {
  test("returns the value of a sync function, as codec wire", async () => {
    assert.equal(value(await call("square", [7])), 49);
  });

  test("async functions and rich values (Map, Date, BigInt) come back intact", async () => {
    assert.equal(value(await call("addLater", [2, 3])), 5);
    assert.deepEqual(value(await call("rich", [])), new Map<string, unknown>([["when", new Date(0)], ["big", 10n]]));
  });

  test("warm reuse: the second call has no cold-start span and runs in the same process", async () => {
    const first = recorder();
    const a = await call("whoami", [], { ...first, traceparent: TRACEPARENT });
    const second = recorder();
    const b = await call("whoami", [], { ...second, traceparent: TRACEPARENT });
    assert.equal(a.coldStart, true);
    assert.equal(b.coldStart, false);
    assert.equal(value(a), a.pid);
    assert.equal(value(b), a.pid, "same process serves the second call");
    const cold = first.spans.filter((s) => s.name === "cold-start");
    assert.equal(cold.length, 1);
    assert.equal(cold[0]!.parentSpanId, PARENT_SPAN);
    assert.equal(cold[0]!.traceId, TRACE_ID);
    assert.ok(cold[0]!.end > cold[0]!.start);
    assert.equal(second.spans.filter((s) => s.name === "cold-start").length, 0);
    assert.ok(first.lines("system").some((l) => l.includes("cold start")));
    assert.deepEqual(second.lines("system"), []);
  });

  test("an Operator subclass with a child: both spans arrive, chained under the caller's traceparent", async () => {
    const rec = recorder();
    const r = await call("MyOperator", [2], { ...rec, kind: "operator", init: [1, 3], traceparent: TRACEPARENT });
    assert.equal(value(r), (1 + 2) * 3 + 2);
    const root = rec.spans.find((s) => s.name === "MyOperator");
    const child = rec.spans.find((s) => s.name === "Doubler");
    assert.ok(root && child, `spans: ${rec.spans.map((s) => s.name).join(", ")}`);
    assert.equal(root.parentSpanId, PARENT_SPAN);
    assert.equal(child.parentSpanId, root.spanId);
    assert.equal(child.op, "b");
    for (const s of [root, child]) assert.equal(s.traceId, TRACE_ID);
    // The cold start is its own span beside the run, and load-time spans nest under it.
    const cold = rec.spans.find((s) => s.name === "cold-start")!;
    assert.equal(cold.parentSpanId, PARENT_SPAN);
    const init = rec.spans.find((s) => s.name === "remote-init");
    assert.equal(init?.parentSpanId, cold.spanId);
  });

  test("remoteInit runs once per process, pre-order over the tree", async () => {
    const a = value(await call("InitCounter", [], { kind: "operator" })) as Record<string, unknown>;
    const b = value(await call("InitCounter", [], { kind: "operator" })) as Record<string, unknown>;
    assert.equal(a.pid, b.pid);
    assert.deepEqual({ root: b.root, child: b.child, order: b.order }, { root: 1, child: 1, order: ["root", "child"] });
  });

  test("logs are attributed to the run that printed them, line by line", async () => {
    // Two runs back to back in one process, and two at once in two processes.
    const recs = [recorder(), recorder(), recorder(), recorder()];
    await call("chatty", ["a", 0], recs[0]);
    await call("chatty", ["b", 0], recs[1]);
    await Promise.all([call("chatty", ["c", 50], recs[2]), call("chatty", ["d", 50], recs[3])]);
    for (const [i, tag] of ["a", "b", "c", "d"].entries()) {
      const rec = recs[i]!;
      assert.deepEqual(rec.lines("stdout"), [`out ${tag} 1`, `out ${tag} 2`, `partial ${tag}`], `stdout of ${tag}`);
      assert.deepEqual(rec.lines("stderr"), [`err ${tag}`], `stderr of ${tag}`);
    }
  });

  test("output that bypasses console is attributed too: fd writes and subprocesses that inherit stdout/stderr", async () => {
    // In one process, with quiet calls between: a call that prints nothing has no markers, the next still gets its own lines.
    const steps = [["none", "q1"], ["fd", "a"], ["none", "q2"], ["subprocess", "b"], ["none", "q3"], ["file", "f"], ["thread", "t"], ["none", "q4"], ["fd", "a2"]] as const;
    const recs = steps.map(() => recorder());
    const pids = new Set<number | undefined>();
    for (const [i, [how, tag]] of steps.entries()) {
      const r = await call("bypass", [how, tag], recs[i]);
      assert.equal(value(r), tag);
      pids.add(r.pid);
    }
    assert.equal(pids.size, 1, "every call ran in the same process");
    const out = (i: number, stream: string) => recs[i]!.lines(stream);
    for (const i of [0, 2, 4, 7]) assert.deepEqual([...out(i, "stdout"), ...out(i, "stderr")], [], `quiet call ${steps[i]![1]} has no lines`);
    assert.deepEqual(out(5, "stdout"), ["file f"], "writeFileSync to fd 1");
    assert.deepEqual(out(6, "stdout"), ["thread t"], "a worker thread writing to fd 1");
    assert.deepEqual(out(8, "stdout"), ["fd1 a2"], "calls after a worker thread are framed from their start");
    assert.deepEqual(out(1, "stdout"), ["fd1 a"]);
    assert.deepEqual(out(1, "stderr"), ["fd2 a"]);
    assert.deepEqual(out(3, "stdout"), ["child out b", "spawned b"]);
    assert.deepEqual(out(3, "stderr"), ["child err b"]);
    const rec = recorder();
    assert.deepEqual(value(await call("bypass", ["promisified", "c"], rec)), [["buffer", "bytesWritten"], "42"], "util.promisify forms of the watched functions");
    assert.deepEqual(rec.lines("stdout"), ["promised c"]);
  });

  test("output printed after a call returned (a timer, a logger flushing late) is handed on with the run the process ran last", async () => {
    const linesOf = async (id: string, want: number) => {
      for (let i = 0; i < 100 && stray.filter((s) => s.runId === id).length < want; i++) await new Promise((r) => setTimeout(r, 20));
      return stray.filter((s) => s.runId === id).map((s) => s.line);
    };
    const first = runId();
    const rec = recorder();
    assert.equal(value(await call("late", ["x", 30], { ...rec, runId: first })), "x");
    assert.deepEqual((await linesOf(first, 2)).sort(), ["late fd x", "late x"], "the process was idle when they came");
    assert.deepEqual([...rec.lines("stdout"), ...rec.lines("stderr")], [], "not in the call's own output: it had ended");
    // A later quiet call of the same process: what came before it stays with the run that printed it.
    const second = runId();
    const a = await call("late", ["y", 30], { runId: second });
    await linesOf(second, 2);
    const third = runId();
    const b = await call("late", ["z", -1], { runId: third });
    assert.equal(a.pid, b.pid);
    assert.deepEqual((await linesOf(second, 2)).sort(), ["late fd y", "late y"]);
    assert.deepEqual(await linesOf(third, 0), []);
  });

  test("while a call runs, all output is its own: an ended call's timer, a logger an earlier call made", async () => {
    const linesOf = async (id: string, want: number) => {
      for (let i = 0; i < 100 && stray.filter((s) => s.runId === id).length < want; i++) await new Promise((r) => setTimeout(r, 20));
      return stray.filter((s) => s.runId === id).map((s) => s.line);
    };
    const first = runId();
    const a = await call("late", ["w", 150], { runId: first });
    assert.equal(value(a), "w");
    // Its timer fires while this call (same process: warm, idle) sleeps after printing its own line.
    const rec = recorder();
    const b = await call("late", ["v", -1, 600], rec);
    assert.equal(value(b), "v");
    assert.equal(a.pid, b.pid, "the same process ran both");
    assert.deepEqual([...rec.lines("stdout"), ...rec.lines("stderr")].sort(), ["late fd w", "late w", "sleeping v"]);
    assert.deepEqual(await linesOf(first, 0), [], "nothing went to the ended call's run");
    // A logger made by the first of these calls writes every later call's line from that call's context.
    const recs = [recorder(), recorder(), recorder()];
    const outs = [];
    for (const [i, tag] of ["p", "q", "r"].entries()) outs.push(await call("lazyLog", [tag], recs[i]));
    assert.equal(new Set(outs.map((o) => o.pid)).size, 1, "one process ran the three calls");
    for (const [i, tag] of ["p", "q", "r"].entries()) assert.deepEqual(recs[i]!.lines("stdout"), [`logged ${tag}`], `call ${tag} got its own line`);
  });

  test("a thrown error keeps name, message and stack; the process survives and is reused", async () => {
    const r1 = await call("check", [-1]);
    const err = failure(r1, "error");
    assert.equal(err.name, "ValidationError");
    assert.equal(err.message, "x must be >= 0, got -1");
    assert.match(err.stack ?? "", /ops\.ts/);
    const r2 = await call("check", [0]);
    assert.ok(failure(r2, "error") instanceof TypeError);
    const r3 = await call("check", [5]);
    assert.equal(value(r3), r1.pid);
    assert.equal(r2.pid, r1.pid);
    assert.equal(r3.coldStart, false);
  });

  test("an error thrown from a timer during a run fails that run, not the process", async () => {
    const r1 = await call("timerThrow", []);
    const err = failure(r1, "error");
    assert.equal(err.name, "RangeError");
    assert.equal(err.message, "from a timer");
    const r2 = await call("timerThrow", []);
    assert.equal(r2.pid, r1.pid);
  });

  test("process.exit(3) in user code: reason crash with exit code and stderr tail; next call gets a fresh process", async () => {
    const rec = recorder();
    const r1 = await call("exit3", [3], rec);
    const err = failure(r1, "crash");
    assert.equal(err.name, "WorkerCrashError");
    assert.match(err.message, /worker process exited with code 3/);
    assert.match(err.message, /about to exit/);
    assert.deepEqual(rec.lines("stderr"), ["about to exit"]);
    assert.ok(rec.lines("system").some((l) => l.includes("exited with code 3")));
    const r2 = await call("exit3", [0]);
    assert.equal(r2.coldStart, true);
    assert.notEqual(r2.pid, r1.pid);
    // Exit code 0 mid-run is still a crash: the run never answered.
    assert.match(failure(r2, "crash").message, /exited with code 0/);
  });

  test("timeout kills a spinning call and names the timeout (cold start not counted)", async () => {
    const rec = recorder();
    const t0 = Date.now();
    const r = await call("spin", [], { ...rec, timeoutMs: 300 });
    const err = failure(r, "timeout");
    assert.equal(err.name, "RunTimeoutError");
    assert.match(err.message, /timed out after 300 ms/);
    assert.ok(Date.now() - t0 < 30_000);
    assert.deepEqual(rec.lines("stdout"), ["spinning"]);
    assert.ok(!pool.processes().some((p) => p.pid === r.pid), "the spinning process is gone");
  });

  // In its group, and in a session of its own (setsid: the group kill misses it; without a sandbox
  // the tag it inherited is what finds it).
  for (const fixture of ["spawnThenSpin", "spawnDetachedThenSpin"] as const) {
    test(`a subprocess user code started goes with the process a timeout killed (${fixture})`, async () => {
      const rec = recorder();
      const r = await call(fixture, [], { ...rec, timeoutMs: 1_000 });
      failure(r, "timeout");
      const line = rec.lines("stdout").find((l) => l.startsWith("subprocess "));
      assert.ok(line, `the call said its subprocess: ${JSON.stringify(rec.lines("stdout"))}`);
      const sub = Number(line.slice("subprocess ".length));
      const alive = () => {
        try {
          process.kill(sub, 0);
          return true;
        } catch {
          return false;
        }
      };
      // Bounded wait for the kill to land (a hang guard, not a timing assertion).
      for (let i = 0; i < 200 && alive(); i++) await new Promise((res) => setTimeout(res, 25));
      const outlived = alive();
      if (outlived) process.kill(sub, "SIGKILL");
      assert.equal(outlived, false, `subprocess ${sub} outlived its killed process`);
    });
  }

  test("cancel via AbortSignal kills the call", async () => {
    const ac = new AbortController();
    const rec = recorder();
    const r = await call("sleep", [60_000], {
      signal: ac.signal,
      onLog: (stream, line) => {
        rec.onLog(stream, line);
        if (line === "sleeping") ac.abort();
      },
    });
    const err = failure(r, "cancelled");
    assert.equal(err.name, "RunCancelledError");
    assert.ok(!pool.processes().some((p) => p.pid === r.pid));
    // Already aborted: nothing is started.
    const r2 = await call("sleep", [1], { signal: AbortSignal.abort() });
    failure(r2, "cancelled");
    assert.equal(r2.pid, undefined);
  });

  test("a bad export is reported clearly as a load failure", async () => {
    const rec = recorder();
    const r = await call("nope", [], { ...rec, traceparent: TRACEPARENT });
    const err = failure(r, "error");
    assert.equal(err.name, "MaterializeError");
    assert.match(err.message, /has no export "nope"/);
    assert.match(err.message, /square/, "lists the exports that do exist");
    const cold = rec.spans.find((s) => s.name === "cold-start");
    assert.equal(cold?.status, "error");
    assert.ok(!pool.processes().some((p) => p.pid === r.pid), "the failed process is not kept");
  });
});
