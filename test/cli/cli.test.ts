// End-to-end CLI tests: `node bin/nbx.js …` child processes against a platform started here.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPlatform, type Platform } from "../../src/platform/platform.ts";
import { nbx, removeDir, tempProject } from "./_harness.ts";

const T = { timeout: 120_000 };

const SERVING_OPS = `import { operator } from "nbox";

@operator()
export class Counter {
  x = 0;
  inc(by = 1) {
    this.x += by;
    return this.x;
  }
  hello(name: string) {
    return \`hello \${name}\`;
  }
  stats() {
    return { at: new Date(0), seen: new Map([["a", 1n]]), tags: new Set(["x"]) };
  }
  reset() {
    this.x = 0;
  }
}
`;

describe("nbx against a running platform", { timeout: 600_000 }, () => {
  let platform: Platform;
  let proj: { dir: string; root: string };
  let env: Record<string, string>;
  const run = (args: string[], extra: Record<string, string> = {}) => nbx(args, { cwd: proj.dir, env: { ...env, ...extra } });
  const api = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${platform.url}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${platform.adminToken}`, "content-type": "application/json" } });
    return (await res.json()) as any;
  };
  const waitStatus = async (id: string, pred: (s: string) => boolean, ms = 60_000) => {
    const end = Date.now() + ms;
    for (;;) {
      const { run: r } = await api(`/runs/${id}`);
      if (pred(r.status)) return r;
      if (Date.now() > end) throw new Error(`run ${id} stuck in ${r.status}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  };

  before(async () => {
    proj = tempProject();
    platform = await startPlatform({ port: 0, dataDir: join(proj.root, "data"), slots: 2 });
    env = { NBOX_URL: platform.url, NBOX_TOKEN: platform.adminToken };
  });

  after(async () => {
    try {
      // Bounded: a platform that cannot stop fails this suite instead of hanging the test run.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          setTimeout(() => process.exit(1), 2000).unref();
          reject(new Error("platform.close() did not finish within 30 s"));
        }, 30_000);
      });
      await Promise.race([platform?.close(), late]).finally(() => clearTimeout(timer));
    } finally {
      if (proj) removeDir(proj.root);
    }
  });

  test("deploy --dry-run prints the manifest table; --json the manifest", T, async () => {
    const table = await run(["deploy", "ops.ts:foo", "--dry-run"]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /dry run: foo \(job, fn\) from ops\.ts:foo/);
    assert.match(table.stdout, /FILE\s+SIZE/);
    assert.match(table.stdout, /^ops\.ts\s+\d+ B$/m);
    assert.match(table.stdout, /^extra\.ts\s+/m);
    assert.match(table.stdout, /total: 5 files, /);
    assert.match(table.stdout, /ignored: [1-9]\d* path/);

    const json = await run(["deploy", "ops.ts:foo", "--dry-run", "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const dry = JSON.parse(json.stdout);
    assert.deepEqual(dry.files.map((f: { path: string }) => f.path).sort(), ["deploy.ts", "extra.ts", "main.ts", "ops.ts", "package.json"]);
    assert.ok(dry.ignoredCount >= 1, "node_modules is ignored");
    assert.equal(dry.manifest.export, "foo");
    assert.equal(dry.manifest.type, "job");
  });

  test("schedules: listed with their next fire; pause and resume; a job without one is a clear error", T, async () => {
    const d = await run(["deploy", "ops.ts:foo", "--name", "yearly", "--cron", "0 0 1 1 *"]);
    assert.equal(d.code, 0, d.stderr);
    const listed = await run(["schedules"]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /DEPLOYMENT\s+WORKSPACE\s+CRON\s+TIMEZONE\s+STATE\s+NEXT\s+LAST/);
    assert.match(listed.stdout, /^yearly\s+default\s+0 0 1 1 \*\s+UTC\s+active\s+in \d+[smhd]\s+-$/m);

    const paused = await run(["schedule", "pause", "yearly"]);
    assert.equal(paused.code, 0, paused.stderr);
    assert.equal(paused.stdout.trim(), 'default/yearly: "0 0 1 1 *" paused');
    const json = await run(["schedules", "--workspace", "default", "--json"]);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout).map((x: any) => [x.deployment, x.enabled]), [["yearly", false]]);
    const resumed = await run(["schedule", "resume", "yearly"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /default\/yearly: "0 0 1 1 \*" active, next in \d+[smhd]/);

    await run(["deploy", "ops.ts:foo"]);
    const none = await run(["schedule", "pause", "foo"]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /deployment "foo" in workspace "default" has no schedule/);
    // Leave no schedule behind for the tests after this one.
    assert.equal((await run(["deploy", "ops.ts:foo", "--name", "yearly"])).code, 0);
  });

  test("deploy, then run --wait prints the result; a redeploy uploads nothing", T, async () => {
    const d = await run(["deploy", "ops.ts:foo"]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /deployed foo \(job, fn\) to workspace "default"/);
    assert.match(d.stderr, /upload/);

    const again = await run(["deploy", "ops.ts:foo", "--json"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).name, "foo");

    const r = await run(["run", "foo", "--arg", "5", "--wait"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "25");

    const dflt = await run(["run", "foo", "--wait", "--json"]);
    assert.equal(dflt.code, 0, dflt.stderr);
    const info = JSON.parse(dflt.stdout);
    assert.equal(info.status, "succeeded");
    assert.equal(info.result, 16);
  });

  test("run without --wait prints the run id; runs lists it (table and --json)", T, async () => {
    const r = await run(["run", "foo", "--arg", "3"]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^run_\w+$/);
    await waitStatus(id, (s) => s === "succeeded");

    const list = await run(["runs", "--json"]);
    assert.equal(list.code, 0, list.stderr);
    const runs = JSON.parse(list.stdout) as { id: string; status: string; deployment: string }[];
    assert.ok(runs.some((x) => x.id === id && x.status === "succeeded" && x.deployment === "foo"));

    const table = await run(["runs", "--workspace", "default", "--status", "succeeded"]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ID\s+DEPLOYMENT\s+WORKSPACE\s+STATUS/);
    assert.ok(table.stdout.includes(id));

    const bad = await run(["runs", "--status", "exploded"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /error: unknown status "exploded"/);
  });

  test("a failing run: --wait exits non-zero with the remote error, no stack", T, async () => {
    assert.equal((await run(["deploy", "extra.ts:boom"])).code, 0);
    const r = await run(["run", "boom", "--arg", '"bad"', "--wait"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: run run_\w+ failed: TypeError: boom: bad$/m);
    assert.match(r.stderr, /hint: see its logs with `nbx logs run_/);
    assert.doesNotMatch(r.stderr, /^\s+at /m);

    const badJson = await run(["run", "boom", "--arg", "not-json"]);
    assert.equal(badJson.code, 1);
    assert.match(badJson.stderr, /error: --arg #1 is not valid JSON/);
    assert.match(badJson.stderr, /hint: Write each value as JSON/);

    const missing = await run(["run", "nope", "--wait"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /error: deployment "nope" not found in workspace "default"/);
  });

  test("logs prints a run's lines; --follow ends with the run", T, async () => {
    assert.equal((await run(["deploy", "extra.ts:chatty"])).code, 0);
    const r = await run(["run", "chatty", "--arg", "3", "--wait", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.deepEqual(info.result, { k: 3, ok: true });

    const logs = await run(["logs", info.id]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /line 0\nline 1\nline 2\n/);

    const followed = await run(["logs", info.id, "--follow"]);
    assert.equal(followed.code, 0, followed.stderr);
    assert.match(followed.stdout, /line 2/);

    const json = await run(["logs", info.id, "--json"]);
    const lines = JSON.parse(json.stdout) as { line: string; stream: string }[];
    assert.ok(lines.some((l) => l.line === "line 1" && l.stream === "stdout"));

    const unknown = await run(["logs", "run_doesnotexist"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /error: run run_doesnotexist not found/);
  });

  test("cancel stops a running run", T, async () => {
    assert.equal((await run(["deploy", "extra.ts:slow"])).code, 0);
    const r = await run(["run", "slow", "--arg", "600"]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    await waitStatus(id, (s) => s === "running");
    // "running" covers the cold start too: wait for the first line so the run is really executing.
    for (let i = 0; i < 200 && !/tick 0/.test((await run(["logs", id])).stdout); i++) await new Promise((r) => setTimeout(r, 100));
    const c = await run(["cancel", id]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, new RegExp(`^run ${id}: (running \\(cancel requested\\)|cancelled)`));
    const done = await waitStatus(id, (s) => s !== "running" && s !== "queued");
    assert.equal(done.status, "cancelled");

    const waitCancelled = await run(["logs", id, "--follow"]);
    assert.equal(waitCancelled.code, 0, waitCancelled.stderr);
    assert.match(waitCancelled.stdout, /tick 0/);
  });

  test("workspace create|list and token create|list|revoke", T, async () => {
    const c = await run(["workspace", "create", "team-a"]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /workspace team-a \(ws_\w+\)/);
    const list = await run(["workspace", "list", "--json"]);
    const listed = JSON.parse(list.stdout) as { name: string; createdAt: string }[];
    const names = listed.map((w) => w.name);
    // --json prints times as ISO strings in every listing (runs, workspaces, tokens, schedules).
    assert.ok(listed.every((w) => new Date(w.createdAt).toISOString() === w.createdAt), list.stdout);
    assert.ok(names.includes("team-a") && names.includes("default"));
    const table = await run(["workspace", "list"]);
    assert.match(table.stdout, /^NAME\s+ID\s+CREATED/);

    const t = await run(["token", "create", "--workspace", "team-a", "--name", "ci"]);
    assert.equal(t.code, 0, t.stderr);
    const secret = t.stdout.trim();
    assert.match(secret, /^nbx_/);
    const tokens = JSON.parse((await run(["token", "list", "--json"])).stdout) as { id: string; name: string; scope: string; createdAt: string }[];
    const mine = tokens.find((x) => x.name === "ci");
    assert.equal(typeof mine?.createdAt, "string");
    assert.ok(mine && mine.scope === "workspace");
    const tokTable = await run(["token", "list"]);
    assert.match(tokTable.stdout, /ci\s+workspace\s+team-a/);

    // The workspace token sees its workspace only.
    const scoped = await run(["runs", "--workspace", "team-a", "--json"], { NBOX_TOKEN: secret });
    assert.equal(scoped.code, 0, scoped.stderr);
    assert.deepEqual(JSON.parse(scoped.stdout), []);
    const other = await run(["runs", "--workspace", "default"], { NBOX_TOKEN: secret });
    assert.equal(other.code, 1);
    assert.match(other.stderr, /^error: /m);

    // Without --workspace, a workspace token's commands go to its own workspace, not to "default".
    const dep = await run(["deploy", "ops.ts:foo", "--json"], { NBOX_TOKEN: secret });
    assert.equal(dep.code, 0, dep.stderr);
    assert.equal(JSON.parse(dep.stdout).workspace, "team-a");
    const ran = await run(["run", "foo", "--arg", "3", "--wait"], { NBOX_TOKEN: secret });
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout.trim(), "9");
    const own = JSON.parse((await run(["runs", "--json"], { NBOX_TOKEN: secret })).stdout) as { workspace: string; result: unknown }[];
    assert.deepEqual(own.map((r) => [r.workspace, r.result]), [["team-a", 9]]);

    const rv = await run(["token", "revoke", mine!.id]);
    assert.equal(rv.code, 0, rv.stderr);
    const after = await run(["runs", "--workspace", "team-a"], { NBOX_TOKEN: secret });
    assert.equal(after.code, 1);
    assert.match(after.stderr, /error: .*(invalid|revoked)/);
    const twice = await run(["token", "revoke", mine!.id]);
    assert.equal(twice.code, 1);

    const admin = await run(["token", "create", "--admin", "--json"]);
    assert.equal(admin.code, 0, admin.stderr);
    assert.equal(JSON.parse(admin.stdout).scope, "admin");
  });

  test("a worker started with a wrong or a non-worker token says which and how to get one", T, async () => {
    const cache = mkdtempSync(join(tmpdir(), "nbx-worker-cache-"));
    try {
      const [bogus, admin] = await Promise.all([
        run(["worker", "--platform", platform.url, "--token", "nbx_bogus", "--cache", cache]),
        run(["worker", "--platform", platform.url, "--token", platform.adminToken, "--cache", cache]),
      ]);
      assert.equal(bogus.code, 1);
      assert.match(bogus.stderr, /^error: the control plane at http:\/\/\S+ refused the worker's token/m);
      assert.match(bogus.stderr, /^hint: Create a worker token there with `nbx token create --worker`/m);
      assert.equal(admin.code, 1);
      assert.match(admin.stderr, /an admin or workspace token is not a worker token/);
    } finally {
      removeDir(cache);
    }
  });

  test("deployments, servings --json and call on a job", T, async () => {
    const d = await run(["deployments", "--json"]);
    assert.equal(d.code, 0, d.stderr);
    assert.ok((JSON.parse(d.stdout) as { name: string }[]).some((x) => x.name === "foo"));
    const s = await run(["servings", "--json"]);
    assert.equal(s.code, 0, s.stderr);
    assert.ok(Array.isArray(JSON.parse(s.stdout)));
    const call = await run(["call", "foo", "forward", "1"]);
    assert.equal(call.code, 1);
    assert.match(call.stderr, /error: "foo" is a job, not a serving/);
  });

  test("a serving: deploy, servings, call", T, async (t) => {
    writeFileSync(join(proj.dir, "svc.ts"), SERVING_OPS);
    const d = await run(["deploy", "svc.ts:Counter"]);
    if (d.code !== 0 && /hosts no servings/.test(d.stderr)) return t.skip("this platform build hosts no servings");
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /deployed Counter \(serving, class\)/);
    assert.match(d.stdout, /url: +http:\/\/127\.0\.0\.1:\d+\/s\/default\/Counter\//);

    const list = await run(["servings", "--json"]);
    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as { name: string; workspace: string; url?: string }[];
    assert.ok(rows.some((r) => r.name === "Counter" && r.workspace === "default" && r.url?.includes("/s/default/Counter/")));
    const table = await run(["servings"]);
    assert.match(table.stdout, /^Counter\s+default\s+/m);

    const inc = await run(["call", "Counter", "inc", "5"]);
    assert.equal(inc.code, 0, inc.stderr);
    assert.equal(inc.stdout.trim(), "5");
    const hello = await run(["call", "Counter", "hello", '"bob"', "--json"]);
    assert.equal(hello.code, 0, hello.stderr);
    assert.deepEqual(JSON.parse(hello.stdout), { value: "hello bob" });
    // Rich values print as the plain JSON a curl caller gets; undefined prints nothing.
    const stats = await run(["call", "Counter", "stats"]);
    assert.equal(stats.code, 0, stats.stderr);
    assert.deepEqual(JSON.parse(stats.stdout), { at: "1970-01-01T00:00:00.000Z", seen: { a: "1" }, tags: ["x"] });
    const statsJson = await run(["call", "Counter", "stats", "--json"]);
    assert.deepEqual(JSON.parse(statsJson.stdout).value.seen, { a: "1" });
    const reset = await run(["call", "Counter", "reset"]);
    assert.equal(reset.code, 0, reset.stderr);
    assert.equal(reset.stdout, "", "not even an empty line");
    const nope = await run(["call", "Counter", "nope"]);
    assert.equal(nope.code, 1);
    assert.match(nope.stderr, /^error: .*nope/m);
    const job = await run(["run", "Counter"]);
    assert.equal(job.code, 1);
    assert.match(job.stderr, /error: "Counter" is a serving, not a job/);
    const logs = await run(["serving-logs", "Counter", "--json"]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.ok(Array.isArray(JSON.parse(logs.stdout)));
    const noLogs = await run(["serving-logs", "NoSuchServing"]);
    assert.equal(noLogs.code, 1);
    assert.match(noLogs.stderr, /NoSuchServing/);
  });

  test("flow and tree print the operator's structure", T, async () => {
    const flow = await run(["flow", "extra.ts:outer"]);
    assert.equal(flow.code, 0, flow.stderr);
    assert.match(flow.stdout, /^Outer/);
    assert.match(flow.stdout, /branch if \(x\s*>\s*10\)/);
    assert.match(flow.stdout, /call inner/);

    const json = await run(["flow", "extra.ts:outer", "--json"]);
    const f = JSON.parse(json.stdout);
    assert.equal(f.root, "Outer");
    assert.ok(f.nodes.some((n: { kind: string; op?: string }) => n.kind === "call" && n.op === "inner"));

    const fn = await run(["flow", "ops.ts:foo"]);
    assert.equal(fn.code, 0, fn.stderr);
    assert.match(fn.stdout, /^foo\n\s+return i\s*\*\s*i/);

    const tree = await run(["tree", "extra.ts:outer"]);
    assert.equal(tree.code, 0, tree.stderr);
    assert.equal(tree.stdout, "Outer(\n  (inner): Inner()\n)\n");
    const treeJson = await run(["tree", "extra.ts:outer", "--json"]);
    assert.equal(treeJson.code, 0, treeJson.stderr);
    assert.deepEqual(JSON.parse(treeJson.stdout), { root: "Outer", nodes: [{ name: "Outer", type: "Outer" }, { name: "inner", type: "Inner" }] });
    const cls = await run(["tree", "extra.ts:Outer", "--init", "[2]"]);
    assert.equal(cls.code, 0, cls.stderr);
    assert.match(cls.stdout, /^Outer\(/);
  });

  test("wrong <file>:<export> targets fail with one clear line and a hint", T, async () => {
    const cases: [string[], RegExp, RegExp?][] = [
      [["deploy", "extra.ts"], /error: "extra\.ts" is not a <file>:<export> target/, /hint: Write it as <file\.ts>:<export>/],
      [["deploy", "extra.ts:"], /error: "extra\.ts:" has no export name after ":"/],
      [["deploy", "missing.ts:foo"], /error: file not found: missing\.ts/],
      [["deploy", "extra.ts:nope"], /error: extra\.ts has no export "nope"/, /hint: Available exports: .*boom.*chatty/],
      [["deploy", "extra.ts:notAnOp"], /error: export "notAnOp" of extra\.ts is a plain function, not an operator/, /hint: Wrap it/],
      [["flow", "extra.ts:answer"], /error: export "answer" of extra\.ts is a number, not an operator/],
      [["tree", "ops.ts:bar"], /error: ops\.ts has no export "bar"/, /hint: Available exports: foo/],
      [["deploy", "ops.ts:foo", "--type", "batch"], /error: --type must be "job" or "serving"/],
    ];
    const results = await Promise.all(cases.map(([args]) => run(args)));
    results.forEach((r, i) => {
      const [args, msg, hint] = cases[i]!;
      assert.equal(r.code, 1, `${args.join(" ")} should fail: ${r.stdout} ${r.stderr}`);
      assert.match(r.stderr, msg);
      if (hint) assert.match(r.stderr, hint);
      assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack without NBOX_DEBUG");
    });
    const dbg = await run(["deploy", "extra.ts:nope"], { NBOX_DEBUG: "1" });
    assert.equal(dbg.code, 1);
    assert.match(dbg.stderr, /^\s+at /m, "NBOX_DEBUG=1 shows the stack");
  });
});

describe("nbx without a platform", () => {
  test("remote commands fail clearly; worker asks for its token and --redis asks for a redis:// URL", T, async () => {
    const home = mkdtempSync(join(tmpdir(), "nbx-nohome-"));
    try {
      // Its own NBOX_HOME too: the test run's shared one may hold a record another file's `nbx up` wrote.
      const env = { NBOX_URL: undefined, NBOX_TOKEN: undefined, HOME: home, NBOX_HOME: join(home, ".nbox") };
      const [runs, worker, redis, usage, keepShort, keepBad, retainShort] = await Promise.all([
        nbx(["runs"], { cwd: home, env }),
        nbx(["worker", "--platform", "http://127.0.0.1:1"], { cwd: home, env }),
        nbx(["up", "--redis", "localhost:6379", "--data", join(home, "d")], { cwd: home, env }),
        nbx(["frobnicate"], { cwd: home, env }),
        nbx(["worker", "--platform", "http://127.0.0.1:1", "--token", "t", "--cache-keep", "30m"], { cwd: home, env }),
        nbx(["up", "--cache-keep", "a week", "--data", join(home, "d")], { cwd: home, env }),
        nbx(["up", "--retain", "10m", "--data", join(home, "d")], { cwd: home, env }),
      ]);
      assert.equal(retainShort.code, 1);
      assert.match(retainShort.stderr, /error: --retain must be at least 3600 s, got "10m"/);
      assert.equal(keepShort.code, 1);
      assert.match(keepShort.stderr, /error: --cache-keep must be at least 3600 s, got "30m"/);
      assert.equal(keepBad.code, 1);
      assert.match(keepBad.stderr, /error: --cache-keep must be a duration, got "a week"/);
      assert.match(keepBad.stderr, /hint: Use a number with a unit/);
      assert.equal(runs.code, 1);
      assert.match(runs.stderr, /^error: no nbox platform found/m);
      assert.match(runs.stderr, /^hint: Start one with/m);
      assert.equal(worker.code, 1);
      // Without a worker token it says which token it needs and how to get one.
      assert.match(worker.stderr, /error: nbx worker needs a worker token/);
      assert.match(worker.stderr, /nbx token create --worker/);
      assert.equal(redis.code, 1);
      assert.match(redis.stderr, /error: --redis must be a redis:\/\/ URL/);
      assert.notEqual(usage.code, 0);
      assert.match(usage.stderr, /unknown command 'frobnicate'/);

      const unreachable = await nbx(["runs"], { cwd: home, env: { NBOX_URL: "http://127.0.0.1:9", NBOX_TOKEN: "x" } });
      assert.equal(unreachable.code, 1);
      assert.match(unreachable.stderr, /error: cannot reach the nbox platform at http:\/\/127\.0\.0\.1:9/);
    } finally {
      removeDir(home);
    }
  });
});
