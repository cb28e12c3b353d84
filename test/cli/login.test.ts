// `nbx login` / `nbx logout` and the user's platform record (~/.nbox/current.json, here a temp
// NBOX_HOME): the CLI finds the platform from an unrelated folder, refuses a bad token before
// recording it, and reports a record whose platform is gone.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startTestPlatform, tempDir, type TestPlatform } from "../platform/jobs/_helpers.ts";
import { nbx } from "./_harness.ts";

describe("nbx login and the current platform record", () => {
  let tp: TestPlatform;
  let home: string;
  let elsewhere: string;
  const run = (args: string[]) => nbx(args, { cwd: elsewhere, env: { NBOX_HOME: home, NBOX_URL: undefined, NBOX_TOKEN: undefined } });

  before(async () => {
    tp = await startTestPlatform();
    home = join(tempDir("nbx-login-"), "nbox-home");
    elsewhere = tempDir("nbx-unrelated-project-");
  });
  after(() => tp?.close());

  it("without a record, a command says where it looked and how to fix it", async () => {
    const r = await run(["workspace", "list"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no nbox platform found/);
    assert.ok(r.stderr.includes(join(home, "current.json")), r.stderr);
    assert.match(r.stderr, /nbx login/);
  });

  it("a wrong token is refused and nothing is recorded", async () => {
    const r = await run(["login", tp.url, "--token", "nbx_not-a-token"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /invalid or revoked token|401|UNAUTHORIZED/i);
    assert.equal(existsSync(join(home, "current.json")), false);
  });

  it("login records the platform (0600) and every folder uses it; logout forgets it", async () => {
    const r = await run(["login", `${tp.url}/`, "--token", tp.token]);
    assert.equal(r.code, 0, r.stderr);
    const file = join(home, "current.json");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const rec = JSON.parse(readFileSync(file, "utf8"));
    assert.deepEqual([rec.source, rec.url, rec.token], ["login", tp.url, tp.token]);
    const list = await run(["workspace", "list", "--json"]);
    assert.equal(list.code, 0, list.stderr);
    assert.ok(Array.isArray(JSON.parse(list.stdout)));
    const out = await run(["logout"]);
    assert.equal(out.code, 0);
    assert.equal(existsSync(file), false);
  });

  it("a record of an nbx up that is gone is reported as such", async () => {
    mkdirSync(home, { recursive: true });
    const dead = 2 ** 22 + 12345; // above the default pid_max: no such process
    writeFileSync(join(home, "current.json"), JSON.stringify({ source: "up", url: "http://127.0.0.1:9", tokenFile: "/nonexistent", pid: dead, dataDir: "/tmp/x", writtenAt: new Date().toISOString() }));
    const r = await run(["runs"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no longer running/);
    assert.match(r.stderr, new RegExp(`pid ${dead}`));
  });

  it("a token given without a URL is used with the platform found, never replaced by the record's admin token", async () => {
    assert.equal((await run(["login", tp.url, "--token", tp.token])).code, 0);
    const created = await run(["token", "create", "--workspace", "team-a"]);
    assert.equal(created.code, 0, created.stderr);
    const teamToken = created.stdout.trim();
    const asTeam = (args: string[], env: Record<string, string>) => nbx(args, { cwd: elsewhere, env: { NBOX_HOME: home, NBOX_URL: undefined, NBOX_TOKEN: undefined, ...env } });
    for (const [how, args, env] of [
      ["NBOX_TOKEN", ["runs", "--workspace", "other-ws"], { NBOX_TOKEN: teamToken }],
      ["--token", ["--token", teamToken, "runs", "--workspace", "other-ws"], {}],
    ] as const) {
      const r = await asTeam([...args], env);
      assert.notEqual(r.code, 0, `${how}: another workspace's runs were listed with the admin token`);
      assert.match(r.stderr, /scoped to another workspace/, how);
    }
    const own = await asTeam(["runs", "--workspace", "team-a", "--json"], { NBOX_TOKEN: teamToken });
    assert.equal(own.code, 0, own.stderr);
    const bogus = await asTeam(["--token", "nbx_bogus", "workspace", "list"], {});
    assert.notEqual(bogus.code, 0, "a wrong token is refused, not replaced");
    await run(["logout"]);
  });

  it("NBOX_URL and NBOX_TOKEN still win over the record", async () => {
    mkdirSync(home, { recursive: true });
    writeFileSync(join(home, "current.json"), JSON.stringify({ source: "login", url: "http://127.0.0.1:9", token: "nbx_stale", writtenAt: new Date().toISOString() }));
    const r = await nbx(["workspace", "list", "--json"], { cwd: elsewhere, env: { NBOX_HOME: home, NBOX_URL: tp.url, NBOX_TOKEN: tp.token } });
    assert.equal(r.code, 0, r.stderr);
  });
});
