// Deployed code must not reach the platform's credentials. A job and a serving run probes (see
// _probe.ts) against a real platform: under the sandbox they cannot read the data folder, a
// `~/.nbox` or the platform's /proc entries, even though both folders sit inside the nbox package
// folder the sandbox shows; they get an allow-listed environment, no discovery, and a workspace
// token at most. With the sandbox off the environment, discovery and token rules still hold.
import { after, before, describe, it } from "node:test";
import { setupLauncher } from "../../src/worker/setup.ts";
import { workerPaths } from "../../src/worker/paths.ts";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import { REPO, eventually, freshDataDir, importProject, startTestPlatform, tempDir, testCacheDir, wsName, type TestPlatform } from "../platform/serving/_helpers.ts";
import { WorkerProcess } from "../../src/worker/jobs/index.ts";
import { startPlatform } from "../../src/platform/platform.ts";
import { PROBE_FILES, type Attempt } from "./_probe.ts";

const SECRETS: Record<string, string> = {
  NBOX_SBX_TEST_SECRET: `platform-secret-${randomBytes(6).toString("hex")}`,
  DATABASE_URL: "postgres://admin:hunter2@db.internal/prod",
  AWS_SECRET_ACCESS_KEY: `aws-${randomBytes(6).toString("hex")}`,
};

const inside = (p: string, dir: string) => p === dir || p.startsWith(dir + sep);

/** Platform-side environment for one platform's lifetime (restored after). */
function withEnv(vars: Record<string, string>): () => void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** Pids of live processes whose command line mentions `text`. */
function processesMentioning(text: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(text)) out.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Checks shared by the job and the serving: environment, discovery, token. */
async function assertNoCredentials(tp: TestPlatform, probe: { env(): Promise<Record<string, string>>; discover(cwd?: string, clear?: boolean): Promise<Attempt<{ token: string; url: string }>> }, dataParent: string) {
  const env = await probe.env();
  for (const [k, v] of Object.entries(SECRETS)) {
    assert.equal(env[k], undefined, `${k} reached user code`);
    assert.ok(!Object.values(env).some((x) => x.includes(v)), `the value of ${k} reached user code`);
  }
  assert.notEqual(env.NBOX_TOKEN, tp.token, "user code got the admin token in its environment");
  assert.equal(env.NBOX_URL, tp.url);
  // Discovery without the injected variables: off, with an error saying why (never a walk up to the data folder).
  const found = await probe.discover(dataParent, true);
  assert.equal(found.ok, false, `discovery found ${JSON.stringify(found)}`);
  assert.match((found as { message: string }).message, /NBOX_URL/);
  // With them: the workspace token, not the admin token.
  const injected = await probe.discover();
  assert.ok(injected.ok, JSON.stringify(injected));
  assert.notEqual(injected.value.token, tp.token);
  assert.equal((await tp.platform.ctx.store.verifyToken(injected.value.token))?.scope, "workspace");
}

describe("sandboxed user code", { skip: process.platform !== "linux" && "the sandbox needs Linux" }, () => {
  let tp: TestPlatform;
  let mod: any;
  let ws: string;
  let dataDir: string;
  let home: string;
  let restoreEnv: () => void;

  before(async () => {
    // The data folder and a home with `.nbox` inside the nbox package folder (what `nbx up` in a
    // checkout of nbox does): the sandbox shows that folder, so it has to hide these two.
    dataDir = mkdtempSync(join(REPO, ".nbox-sbx-data-"));
    cpSync(await freshDataDir(), dataDir, { recursive: true });
    home = mkdtempSync(join(REPO, ".nbox-sbx-home-"));
    mkdirSync(join(home, ".nbox"));
    writeFileSync(join(home, ".nbox", "secret"), "a secret in ~/.nbox\n");
    restoreEnv = withEnv({ ...SECRETS, HOME: home });
    tp = await startTestPlatform({ dataDir });
    assert.equal(tp.platform.sandbox.kind, "bwrap", `no sandbox: ${JSON.stringify(tp.platform.sandbox)} (install bubblewrap)`);
    ({ mod } = await importProject(PROBE_FILES));
    ws = wsName("sbx");
  });

  after(async () => {
    await tp?.close();
    restoreEnv?.();
    for (const d of [dataDir, home]) if (d) rmSync(d, { recursive: true, force: true });
  });

  const job = async (name: string) => mod[name].deploy(ws, { client: tp.client });

  it("a job cannot read the data folder or ~/.nbox", async () => {
    const tokenFile = join(dataDir, "admin-token");
    assert.ok(existsSync(tokenFile));
    const read = await job("read");
    const got: Attempt = await read(tokenFile);
    assert.equal(got.ok, false, "read the admin token");
    assert.equal(((await read(join(home, ".nbox", "secret"))) as Attempt).ok, false, "read ~/.nbox/secret");
    const listed: Attempt<string[]> = await (await job("list"))(dataDir);
    assert.ok(!listed.ok || !listed.value.includes("admin-token"), JSON.stringify(listed));
    // Its own pid namespace: the platform's /proc entries (environment, working folder) are not there.
    assert.equal(((await read(`/proc/${process.pid}/environ`)) as Attempt).ok, false, "read the platform's environment through /proc");
  });

  it("a job writes only its scratch folder, not its bundle", async () => {
    const w = await (await job("write"))();
    assert.equal(w.bundle.ok, false, "wrote into the bundle (shared by every process of this version)");
    assert.ok(w.home.ok && w.tmp.ok, JSON.stringify(w));
  });

  it("a job runs outside the data folder, below no discoverable data folder", async () => {
    const where = await (await job("where"))();
    assert.ok(!inside(where.cwd, dataDir), where.cwd);
    assert.ok(inside(where.cwd, testCacheDir()), `${where.cwd} is not in the worker cache`);
    for (let d = where.cwd; d !== dirname(d); d = dirname(d)) assert.ok(!existsSync(join(d, ".nbox", "platform.json")), `${d}/.nbox is discoverable`);
    assert.notEqual(where.home, home);
  });

  it("a job gets an allow-listed environment, no discovery, a workspace token", async () => {
    const [env, discover] = [await job("env"), await job("discover")];
    await assertNoCredentials(tp, { env, discover }, REPO);
  });

  // Without the fix this hangs: leftovers hold the process's output pipes, so its end is never seen.
  it("a sandbox killed at any moment of its start leaves no process behind", { timeout: 60_000 }, async () => {
    const { dir } = await importProject(PROBE_FILES);
    // The launch settings a worker of this platform uses (sandboxed; the token does not matter here).
    const cfg = tp.platform.ctx.config;
    const launcher = await setupLauncher(workerPaths(cfg.cacheDir), { sandbox: cfg.sandbox, passEnv: [], hide: [cfg.dataDir], runtimeToken: async () => ({ token: "unused", url: tp.url }) });
    const launch = await launcher.forWorkspace((await tp.platform.ctx.store.ensureWorkspace(ws)).id);
    for (const ms of [0, 1, 2, 3, 5, 8, 12, 20, 30, 50, 100]) {
      for (const graceMs of [0, 500]) {
        const w = new WorkerProcess("k", { bundleDir: dir, locator: { file: join(dir, "ops.ts"), exportName: "square", kind: "fn", init: [] }, launch });
        await new Promise((r) => setTimeout(r, ms));
        await w.kill("test", graceMs);
      }
    }
    await eventually(async () => processesMentioning(dir).length === 0, 5_000, `no process left of the sandbox: ${processesMentioning(dir).join(", ")}`);
  });

  it("a serving: same", async () => {
    const probe = await mod.Probe.deploy(wsName("sbx-serving"), { client: tp.client });
    assert.equal(((await probe.read(join(dataDir, "admin-token"))) as Attempt).ok, false, "read the admin token");
    assert.equal(((await probe.read(join(home, ".nbox", "secret"))) as Attempt).ok, false, "read ~/.nbox/secret");
    assert.equal(((await probe.read(`/proc/${process.pid}/environ`)) as Attempt).ok, false);
    assert.equal((await probe.write()).bundle.ok, false);
    assert.ok(!inside((await probe.where()).cwd, dataDir));
    await assertNoCredentials(tp, probe, REPO);
  });
});

describe("user code with the sandbox off (--no-sandbox)", () => {
  let tp: TestPlatform;
  let mod: any;
  let dataDir: string;
  let restoreEnv: () => void;

  before(async () => {
    // A data folder called `.nbox`, the name discovery looks for.
    dataDir = join(tempDir("nbx-nosbx-"), ".nbox");
    cpSync(await freshDataDir(), dataDir, { recursive: true });
    restoreEnv = withEnv(SECRETS);
    tp = await startTestPlatform({ dataDir, sandbox: false });
    assert.equal(tp.platform.sandbox.kind, "none");
    ({ mod } = await importProject(PROBE_FILES));
  });

  after(async () => {
    await tp?.close();
    restoreEnv?.();
  });

  it("a job still gets no admin token: allow-listed environment, no discovery from the data folder's parent", async () => {
    const ws = wsName("nosbx");
    const [env, discover, where] = await Promise.all(["env", "discover", "where"].map((n) => mod[n].deploy(ws, { client: tp.client })));
    await assertNoCredentials(tp, { env, discover }, dirname(dataDir));
    assert.ok(!inside((await where()).cwd, dirname(dataDir)));
  });

  it("a serving: same", async () => {
    const probe = await mod.Probe.deploy(wsName("nosbx-serving"), { client: tp.client });
    await assertNoCredentials(tp, probe, dirname(dataDir));
  });
});

describe("where user code runs from", () => {
  it("a worker cache inside the data folder, or below the folder holding a .nbox data folder, is refused", async () => {
    const parent = tempDir("nbx-cachecheck-");
    const dataDir = join(parent, ".nbox");
    await assert.rejects(startPlatform({ port: 0, dataDir, cacheDir: join(dataDir, "cache") }), (e: any) => e.code === "BAD_REQUEST" && /overlap/.test(e.message));
    await assert.rejects(startPlatform({ port: 0, dataDir, cacheDir: join(parent, "cache") }), (e: any) => e.code === "BAD_REQUEST" && /could discover/.test(e.message) && /--cache/.test(e.message));
    assert.ok(!existsSync(dataDir), "refused before anything was created");
  });
});
