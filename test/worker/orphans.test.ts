// A user process must not outlive its worker, also when its user code never yields (a spinning
// loop never hears its IPC channel close) and without the sandbox (whose PID namespace would take
// it along): a worker killed with -9 — or by the OOM killer — leaves no process running on.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { alive, createWorkerToken, CRASH_FIXTURE, eventually, importProject, startTestPlatform, startWorkerProcess, wsName, type TestPlatform, type WorkerProc } from "./_helpers.ts";


describe("a worker's user processes do not outlive it", () => {
  let tp: TestPlatform;
  let worker: WorkerProc | undefined;
  let spinner: number | undefined;
  let daemon: number | undefined;
  before(async () => {
    tp = await startTestPlatform({ executor: false });
  });
  after(async () => {
    for (const pid of [spinner, daemon]) if (pid !== undefined && alive(pid)) process.kill(pid, "SIGKILL");
    await worker?.kill9();
    await tp?.close();
  });

  it("kill -9 of an unsandboxed worker while its job spins: the job's process ends too, and the daemon it started in a session of its own", { timeout: 120_000 }, async () => {
    const token = await createWorkerToken(tp.url, tp.token, "orphans test worker");
    worker = await startWorkerProcess({ url: tp.url, token: token.secret, slots: 1, args: ["--no-sandbox"] });
    const { mod } = await importProject(CRASH_FIXTURE);
    const spin = await mod.spinBesideDaemon.deploy(wsName("orphans"), { client: tp.client });
    const run = await spin.trigger();
    const pidSaid = async (pattern: RegExp) => {
      const line = ((await run.logs()) as Array<{ line: string }>).map((l) => pattern.exec(l.line)).find(Boolean);
      return line ? Number(line[1]) : undefined;
    };
    const pid = await eventually(
      () => pidSaid(/^spinning in (\d+)$/),
      60_000,
      "the job to start spinning",
    );
    spinner = pid;
    daemon = await pidSaid(/^daemon (\d+)$/);
    assert.ok(daemon !== undefined && alive(daemon), "the job started its daemon");
    assert.ok(alive(pid));
    // The worker alone (its user processes have process groups of their own).
    process.kill(worker.pid, "SIGKILL");
    // Bounded wait for the process to end (a hang guard, not a timing assertion).
    for (let i = 0; i < 400 && alive(pid); i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(alive(pid), false, `the spinning user process ${pid} outlived its killed worker`);
    // The process's last act takes its tagged descendants along first.
    for (let i = 0; i < 200 && alive(daemon); i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(alive(daemon), false, `the daemon ${daemon} (setsid, outside the job's group) outlived its killed worker`);
    await token.revoke();
  });
});
