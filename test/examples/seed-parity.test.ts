// The original nbox.operator documentation, translated line by line (examples/foo, examples/bar and
// examples/my-operator, whose deploy.ts are the documentation's `__main__` blocks), run against a
// real platform: every remote result equals the local one. Then one end-to-end case per parity
// item: dynamic attributes, a served Operator called like the local one, classes as jobs, cancel,
// and flow read from the user's own source.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { deploy, fromJob, fromServing, NboxError, RemoteError, type Run } from "../../src/index.ts";
import { startTestPlatform, wsName, type TestPlatform } from "../platform/jobs/_helpers.ts";
import { eventually, importProject } from "../platform/serving/_helpers.ts";
import { exampleDirs, linkAllExamples, REPO_ROOT } from "./link-nbox.ts";

const exec = promisify(execFile);
const dirOf = (name: string) => exampleDirs().find((d) => basename(d) === name)!;
const importExample = (name: string) => import(pathToFileURL(join(dirOf(name), "ops.ts")).href);

/** Extra cases the documentation implies but does not spell out: a class with forward, a slow job. */
const PARITY_FILES: Record<string, string> = {
  "package.json": JSON.stringify({ name: "parity-kit", private: true, type: "module" }),
  "ops.ts": `import { setTimeout as sleep } from "node:timers/promises";
import { operator } from "nbox";

@operator()
export class Tally {
  total: number;
  constructor(start = 0) {
    this.total = start;
  }
  forward(n: number) {
    this.total += n;
    return this.total;
  }
}

export const sleeper = operator(async function sleeper(ms: number) {
  await sleep(ms);
  return ms;
});
`,
};

describe("seed parity: the original documentation's examples, local and remote", () => {
  let tp: TestPlatform;
  let foo: typeof import("../../examples/foo/ops.ts").foo;
  let Bar: typeof import("../../examples/bar/ops.ts").Bar;
  let job: typeof import("../../examples/my-operator/ops.ts").job;
  const script = (name: string) =>
    exec(process.execPath, ["--import", "tsx", "deploy.ts"], { cwd: dirOf(name), timeout: 120_000, env: { ...process.env, NBOX_URL: tp.url, NBOX_TOKEN: tp.token } });

  before(async () => {
    linkAllExamples();
    tp = await startTestPlatform();
    ({ foo } = await importExample("foo"));
    ({ Bar } = await importExample("bar"));
    ({ job } = await importExample("my-operator"));
  });
  after(async () => {
    await tp?.close();
  });

  it("foo: foo_remote() == foo(), foo_remote(10) == foo(10); fromJob latches onto it", async () => {
    const ws = wsName("foo");
    const fooRemote = await foo.deploy(ws);
    assert.equal(await fooRemote(), await foo());
    assert.equal(await fooRemote(10), await foo(10));
    assert.deepEqual(await fooRemote.map([1, 2, 3]), await foo.map([1, 2, 3]));
    const latched = await fromJob<typeof foo>("foo", { workspace: ws });
    assert.equal(await latched(7), await foo(7));
  });

  it("Bar: bar.inc(); bar_remote.inc(); bar.x == bar_remote.x; bar.jj_guverner == bar_remote.jj_guverner; fromServing(url, token)", async () => {
    const bar = new Bar();
    const barRemote = await deploy(Bar, wsName("bar"));
    bar.inc();
    await barRemote.inc();
    assert.equal(bar.x, await barRemote.x);
    assert.equal(bar.getvalue(), await barRemote.getvalue());
    assert.equal(bar.jj_guverner, "echo:jj_guverner");
    assert.equal(await barRemote.jj_guverner, bar.jj_guverner);
    const latched = await fromServing<typeof bar>(barRemote.$url, barRemote.$token);
    assert.equal(await latched.x, bar.x);
    assert.equal(await latched.jj_guverner, bar.jj_guverner);
  });

  it("MyOperator (a tree with a Shell step): job(2) == remote(2), as a job and as an API; the Shell output is in the run log", async () => {
    const ws = wsName("myop");
    const remote = await job.deploy(ws);
    assert.equal(await remote(2), await job(2));
    const run: Run<number> = await remote.trigger(3);
    assert.equal(await run.result(), await job(3));
    assert.ok((await run.logs()).some((l) => l.line === "step 4"), "the Shell step's output is in the run log");
    const ops = new Set((await run.spans()).map((s) => s.op));
    for (const op of ["MyOperator", "b", "echo"]) assert.ok(ops.has(op), `span ${op} in ${[...ops].join(", ")}`);
    const api = await job.deploy(ws, { type: "serving", name: "job-api" });
    assert.equal(await api(2), await job(2));
    const latched = await fromJob<typeof job>("job", { workspace: ws });
    assert.equal(await latched(5), await job(5));
  });

  it("the examples' deploy.ts (the documentation's __main__ blocks) run as their README says", async () => {
    const [fooOut, barOut, myOut] = await Promise.all(["foo", "bar", "my-operator"].map(script));
    const foo = fooOut!.stdout.trim().split("\n") as [string, ...string[]];
    assert.deepEqual(foo.slice(0, 2), ["fooRemote() === foo(): true", "fooRemote(10) = 100 (local: 100)"]);
    assert.match(foo[2]!, /^run run_\w+: 49 \(succeeded\)$/);
    assert.deepEqual(foo.slice(3), ["fooRemote.map([1, 2, 3]) = [1,4,9]", `fromJob("foo")() = 16`]);
    assert.deepEqual(barOut!.stdout.trim().split("\n"), ["bar.x === await barRemote.x: true", "echo:jj_guverner echo:jj_guverner", "fromServing(url, token).getvalue() = 2"]);
    assert.deepEqual(myOut!.stdout.trim().split("\n"), [
      "step 3", // the local job(2): its Shell step prints here, the remote one into the run log
      "remote(2) = 11 (local: 11)",
      "run log: step 3",
      "run spans: MyOperator, b, echo",
      "api(2) = 11",
      `fromJob("job")(3) = 15`,
    ]);
  });

  describe("parity items", () => {
    let kit: any;
    before(async () => {
      kit = (await importProject(PARITY_FILES)).mod;
    });

    it("1. attribute reads resolve on the live instance (its Proxy answers); private and framework names stay unreachable", async () => {
      const bar = new Bar(5);
      const remote = await deploy(Bar, wsName("attr"), { init: [5] });
      for (const name of ["x", "jj_guverner", "anything_else"]) assert.equal(await remote[name]!, bar[name], name);
      // Locally the Proxy answers every name; over the network private, framework and Object names are refused.
      for (const name of ["_hidden", "constructor", "__proto__", "toString", "deploy", "inc"]) {
        await assert.rejects(Promise.resolve(remote[name]!), (e: any) => e instanceof NboxError && e.code === "NOT_FOUND", name);
      }
      assert.deepEqual((await remote.$whoAreYou()).fields, ["x"]);
    });

    it("2. a served Operator is called like the local one: await remote(5)", async () => {
      const api = await job.deploy(wsName("call"), { type: "serving" });
      assert.equal(await api(5), await job(5));
      assert.equal(await api.forward(5), await job(5), "forward() still works");
      const latched = await fromServing<typeof job>(api.$url, api.$token);
      assert.equal(await latched(4), await job(4));
      // A served class without forward is not callable: a clear error, not a hang.
      const bar = await deploy(Bar, wsName("nocall"));
      const noForward = await fromServing<any>(bar.$url, bar.$token);
      await assert.rejects(noForward(1), (e: any) => e.code === "NOT_FOUND" && /no forward\(\)/.test(e.message));
    });

    it("3. a class deployed as a job is built with init and runs forward per run; one without forward is refused at deploy", async () => {
      const tally = await deploy(kit.Tally, wsName("tally"), { type: "job", init: [10] });
      assert.equal(await tally(1), new kit.Tally(10).forward(1));
      const steps: string[] = [];
      // @ts-expect-error Bar has no forward: a type error, and a clear error at deploy time for untyped callers.
      const refused = deploy(Bar, wsName("barjob"), { type: "job", onStep: (s: string) => steps.push(s) });
      await assert.rejects(refused, (e: any) => {
        assert.ok(e instanceof NboxError);
        assert.equal(e.code, "BAD_REQUEST");
        assert.match(e.message, /Bar cannot be deployed as a job: it has no forward\(\) method/);
        assert.match(e.hint ?? "", /deploy it as a serving/);
        return true;
      });
      assert.deepEqual(steps, [], "refused before bundling");
    });

    it("4. await run.cancel() resolves once the run is terminal: a status read right after says cancelled", async () => {
      const sleeper = await kit.sleeper.deploy(wsName("cancel"));
      const run: Run<number> = await sleeper.trigger(120_000);
      await eventually(async () => (await run.status()) === "running", 30_000, "run to start");
      assert.equal(await run.cancel(), "cancelled");
      assert.equal(await run.status(), "cancelled");
      await assert.rejects(run.result(), (e: any) => e instanceof RemoteError && e.runId === run.id);
      assert.equal(await run.cancel(), "cancelled", "cancelling again keeps the final status");
    });

    it("5. nbx flow shows the user's own lines and code", async () => {
      const src = readFileSync(join(dirOf("my-operator"), "ops.ts"), "utf8").split("\n");
      const lineOf = (text: string) => src.findIndex((l) => l.includes(text)) + 1;
      const { stdout } = await exec(process.execPath, [join(REPO_ROOT, "bin/nbx.js"), "flow", "ops.ts:job"], { cwd: dirOf("my-operator"), timeout: 60_000 });
      assert.equal(
        stdout,
        [
          "MyOperator",
          `  code let y = this.a + x  (line ${lineOf("let y = this.a + x;")})`,
          `  call echo  (line ${lineOf("await this.echo({ y })")})`,
          `  call b  (line ${lineOf("y = (await this.b(y)) + x;")})`,
          `    return x * this.k  (line ${lineOf("return x * this.k;")})`,
          `  return y  (line ${lineOf("return y;")})`,
          "",
        ].join("\n"),
      );
    });
  });
});
