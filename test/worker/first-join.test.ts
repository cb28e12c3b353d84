// `nbx worker` started before its control plane waits for it (saying so) and joins once it answers;
// `--wait` bounds that wait, and a signal while it waits ends the worker cleanly.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { nbx } from "../cli/_harness.ts";
import { freePort, createWorkerToken, isolatedEnv, NBX, startTestPlatform, startWorkerProcess, tempDir, type TestPlatform, type WorkerProc } from "./_helpers.ts";

describe("nbx worker before its control plane", () => {
  const platforms: TestPlatform[] = [];
  const workers: WorkerProc[] = [];
  after(async () => {
    for (const w of workers) await w.stop();
    for (const p of platforms) await p.close();
  });

  it("waits for an unreachable control plane, says so, and joins once it is up", { timeout: 120_000 }, async () => {
    const port = await freePort();
    const first = await startTestPlatform({ port, executor: false });
    const token = await createWorkerToken(first.url, first.token, "early worker");
    await first.close(); // the token is kept in its data folder
    const joining = startWorkerProcess({ url: first.url, token: token.secret, slots: 1, timeoutMs: 90_000 });
    // Long enough for the worker to have tried: a platform up before its first try proves nothing.
    await new Promise((r) => setTimeout(r, 4_000));
    const again = await startTestPlatform({ port, executor: false }, first.dataDir);
    platforms.push(again);
    const worker = await joining;
    workers.push(worker);
    assert.match(worker.output(), new RegExp(`waiting for the control plane at ${first.url.replace(/[.]/g, "\\.")} \\(.*\\); trying again until it answers`));
    assert.match(worker.output(), /answers: joining/);
    const listed = (await again.api("GET", "/workers")).json.workers as Array<{ id: string; status?: string }>;
    assert.ok(listed.some((w) => w.id === worker.id), JSON.stringify(listed));
  });

  it("--wait bounds the wait: past it the worker exits 1 naming the control plane, with a hint", { timeout: 60_000 }, async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const res = await nbx(["worker", "--platform", url, "--token", "nbx_any", "--cache", tempDir("nbx-worker-cache-"), "--wait", "2s"], { env: isolatedEnv() as Record<string, string>, cwd: tempDir("nbx-worker-cwd-") });
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /waiting for the control plane at .*for up to 2 s/);
    assert.match(res.stderr, new RegExp(`^error: cannot reach the control plane at ${url.replace(/[.]/g, "\\.")}`, "m"));
    assert.match(res.stderr, /^hint: Is `nbx up` running there\?/m);
    const atOnce = await nbx(["worker", "--platform", url, "--token", "nbx_any", "--cache", tempDir("nbx-worker-cache-"), "--wait", "0"], { env: isolatedEnv() as Record<string, string>, cwd: tempDir("nbx-worker-cwd-") });
    assert.equal(atOnce.code, 1);
    assert.doesNotMatch(atOnce.stderr, /waiting for/, "--wait 0 exits at once");
  });

  it("a SIGTERM while it waits ends it with 0 and no error", { timeout: 60_000 }, async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const child = spawn(process.execPath, [NBX, "worker", "--platform", url, "--token", "nbx_any", "--cache", tempDir("nbx-worker-cache-")], { cwd: tempDir("nbx-worker-cwd-"), env: isolatedEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    while (!/waiting for the control plane/.test(out)) {
      if (child.exitCode !== null) assert.fail(`exited before waiting:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill("SIGTERM");
    assert.equal(await exited, 0, out);
    assert.doesNotMatch(out, /^error:/m);
  });
});
