// `nbx up` as a real foreground process: starts on port 0, answers /api/v1/health, stops on SIGTERM.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { NBX, REPO, nbx, removeDir, startNbxUp } from "./_harness.ts";

test("nbx up starts on port 0, serves /api/v1/health and stops cleanly on SIGTERM", { timeout: 180_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), "nbx-up-"));
  const data = join(root, "data");
  const home = join(root, "nbox-home");
  const env = { ...process.env, NBOX_HOME: home };
  const child = spawn(process.execPath, [NBX, "up", "--port", "0", "--data", data, "--slots", "1"], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on("exit", (code, signal) => r({ code, signal })));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nbx up did not start\n${stdout}\n${stderr}`)), 150_000);
      const check = () => {
        const m = /is up at (http:\/\/\S+)/.exec(stdout);
        if (m && stdout.includes("Press Ctrl+C to stop.")) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      };
      child.stdout.on("data", check);
      void exited.then(({ code }) => reject(new Error(`nbx up exited early (${code})\n${stdout}\n${stderr}`)));
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(url, "http://127.0.0.1:0");
    const info = JSON.parse(readFileSync(join(data, "platform.json"), "utf8"));
    assert.equal(info.url, url);
    assert.equal(info.pid, child.pid);
    const token = readFileSync(join(data, "admin-token"), "utf8").trim();
    assert.ok(stdout.includes(`admin token: ${token}`), stdout);
    assert.ok(stdout.includes(join(data, "admin-token")), "prints where the token file is");

    const health = await fetch(`${url}/api/v1/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { ok: true });
    const ws = await fetch(`${url}/api/v1/workspaces`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ws.status, 200);

    // The user's record: found from any folder, private, pointing at the token file (not a copy).
    const record = JSON.parse(readFileSync(join(home, "current.json"), "utf8"));
    assert.deepEqual([record.source, record.url, record.pid, record.tokenFile], ["up", url, child.pid, join(data, "admin-token")]);
    assert.equal(statSync(join(home, "current.json")).mode & 0o777, 0o600);
    const elsewhere = await nbx(["workspace", "list", "--json"], { cwd: root, env: { NBOX_HOME: home, NBOX_URL: undefined, NBOX_TOKEN: undefined } });
    assert.equal(elsewhere.code, 0, elsewhere.stderr);

    child.kill("SIGTERM");
    const { code } = await exited;
    assert.equal(code, 0, stderr);
    assert.match(stdout, /SIGTERM: stopping the platform…\nstopped/);
    assert.equal(existsSync(join(data, "platform.json")), false, "platform.json is removed on a clean stop");
    assert.equal(existsSync(join(home, "current.json")), false, "so is the user's record of it");
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    removeDir(root);
  }
});

// `--cache-keep` reaches the local worker: its eviction at start keeps what was used within the
// given time, not the default 7 days. Version folders of another nbox install sharing the cache
// (`versions/<install>/<hash>`, finished: a `.ready` stamp) are evicted by every worker.
test("nbx up --cache-keep reaches the local worker's cache eviction", { timeout: 300_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), "nbx-up-keep-"));
  const cache = join(root, "cache");
  const HOUR = 3_600_000;
  const version = (name: string, agoMs: number) => {
    const dir = join(cache, "versions", "0123456789ab", name.repeat(64));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, ".ready"), "");
    const t = (Date.now() - agoMs) / 1000;
    utimesSync(join(dir, ".ready"), t, t);
    return dir;
  };
  /** Start `nbx up` with `keep` and stop it once its worker's first eviction pass removed something. */
  const upUntilEvicted = async (keep: string) => {
    const up = await startNbxUp(["--data", join(root, `data-${keep}`), "--cache", cache, "--cache-keep", keep, "--slots", "1"], { env: { NBOX_HOME: join(root, "nbox-home") } });
    try {
      const deadline = Date.now() + 120_000;
      while (!/cache: removed \d+ version/.test(up.output())) {
        if (Date.now() > deadline) throw new Error(`no eviction logged\n${up.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      return up.output();
    } finally {
      await up.kill9();
    }
  };
  try {
    const used = version("a", 0);
    const hoursAgo = version("b", 2 * HOUR); // kept by the default 7 days
    assert.match(await upUntilEvicted("1h"), /removed 1 version\(s\) and 0 dependency set\(s\) unused for 1 h/);
    assert.equal(existsSync(hoursAgo), false, "unused for 2 h: evicted with --cache-keep 1h");
    assert.equal(existsSync(used), true, "stamped just now: kept");

    const daysAgo = version("c", 8 * 24 * HOUR); // evicted by the default 7 days
    const monthsAgo = version("d", 40 * 24 * HOUR);
    assert.match(await upUntilEvicted("30d"), /removed 1 version\(s\) and 0 dependency set\(s\) unused for 720 h/);
    assert.equal(existsSync(monthsAgo), false, "unused for 40 days: evicted with --cache-keep 30d");
    assert.equal(existsSync(daysAgo), true, "unused for 8 days: kept with --cache-keep 30d");
    assert.equal(existsSync(used), true);
  } finally {
    removeDir(root);
  }
});

// Ctrl+C in a terminal signals the whole process group: `nbx up` and its local worker. The worker
// must not take that as its own stop and then be cut short by the platform's SIGTERM: it leaves.
test("Ctrl+C (SIGINT to the process group) stops nbx up cleanly and its local worker leaves", { timeout: 180_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), "nbx-up-int-"));
  const data = join(root, "data");
  const env = { ...process.env, NBOX_HOME: join(root, "nbox-home") };
  const child = spawn(process.execPath, [NBX, "up", "--port", "0", "--data", data, "--slots", "1"], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  try {
    const deadline = Date.now() + 150_000;
    while (!out.includes("Press Ctrl+C to stop.")) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`nbx up did not start\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    process.kill(-child.pid!, "SIGINT");
    assert.equal(await exited, 0, out);
    const { openStore } = await import("../../src/platform/store/index.ts");
    const store = await openStore({ dataDir: data });
    try {
      const workers = await store.listWorkers();
      assert.equal(workers.length, 1, JSON.stringify(workers));
      assert.ok(workers[0]!.local && workers[0]!.goneAt !== null, `the local worker left: ${JSON.stringify(workers)}`);
    } finally {
      await store.close();
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, "SIGKILL");
    removeDir(root);
  }
});

test("nbx up with a --database or --redis it cannot use says which, where and what to do (never the password)", { timeout: 120_000 }, async (t) => {
  const { postgresUnavailable, TEST_DATABASE_URL } = await import("../platform/store/pg-harness.ts");
  const pgWhy = await postgresUnavailable();
  const root = mkdtempSync(join(tmpdir(), "nbx-up-bad-"));
  const up = (...args: string[]) => nbx(["up", "--port", "0", "--data", join(root, "data"), "--slots", "1", ...args], { env: { NBOX_HOME: join(root, "home") } });
  try {
    const refused = await up("--database", "postgres://nbox:s3cret@127.0.0.1:1/nbox");
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^error: cannot reach Postgres at 127\.0\.0\.1:1 \(.*ECONNREFUSED.*\) for --database postgres:\/\/nbox:\*\*\*@127\.0\.0\.1:1\/nbox/m);
    assert.match(refused.stderr, /^hint: Is Postgres running there\? Check the host and port in --database/m);
    assert.doesNotMatch(refused.stderr + refused.stdout, /s3cret/);

    const redis = await up("--redis", "redis://:s3cret@127.0.0.1:1");
    assert.equal(redis.code, 1);
    assert.match(redis.stderr, /^error: Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1 is unreachable .*a platform started with --redis needs it/m);
    assert.match(redis.stderr, /^hint: Start Redis or check the --redis URL, then start the platform again/m);
    assert.doesNotMatch(redis.stderr, /reconnects on its own/, "nothing is running that would reconnect");
    assert.doesNotMatch(redis.stderr + redis.stdout, /s3cret/);

    if (pgWhy && process.env.CI !== "true") return t.skip(`the missing-database case needs Postgres: ${pgWhy}`);
    const missing = new URL(TEST_DATABASE_URL);
    missing.pathname = `/nbox_never_created_${process.pid}`;
    const nope = await up("--database", missing.toString());
    assert.equal(nope.code, 1);
    assert.match(nope.stderr, new RegExp(`^error: the database of --database .*nbox_never_created_${process.pid} does not exist`, "m"));
    assert.match(nope.stderr, new RegExp(`^hint: Create it first \\(createdb nbox_never_created_${process.pid}, or psql`, "m"));
  } finally {
    removeDir(root);
  }
});
