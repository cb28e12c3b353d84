// The control plane and the worker meet only through the API contract: loading the worker's code
// must not load the store (a worker holds no store connection, so it has no use for drizzle or a
// database driver), and loading the control plane must not load the worker's code (it never runs
// user code). Neither loads BullMQ or its Redis client unless it runs with Redis (`--redis`): on the
// embedded path they only cost start-up time. Checked on the compiled package, as users run it, by
// recording every module a fresh node process resolves while importing the entry.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";
import { REPO } from "../platform/jobs/_helpers.ts";

/** Every module URL node resolves while importing `entry` (a file of dist/). */
function modulesLoadedBy(entry: string): string {
  const dir = mkdtempSync(join(tmpdir(), "nbox-module-graph-"));
  try {
    writeFileSync(join(dir, "hooks.mjs"), `export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write("RESOLVED " + r.url + "\\n"); return r; }\n`);
    writeFileSync(join(dir, "register.mjs"), `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(dir, "hooks.mjs")).href)});\n`);
    const r = spawnSync(process.execPath, ["--import", pathToFileURL(join(dir, "register.mjs")).href, "--input-type=module", "-e", `await import(${JSON.stringify(pathToFileURL(join(REPO, "dist", entry)).href)}); process.stderr.write("IMPORTED\\n");`], { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
    if (r.status !== 0) throw new Error(`importing dist/${entry} failed (exit ${r.status}): ${r.stderr}`);
    return r.stderr;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function resolved(entry: string): string[] {
  const out = modulesLoadedBy(entry);
  assert.match(out, /^IMPORTED$/m, `dist/${entry} did not finish importing`);
  return out.split("\n").filter((l) => l.startsWith("RESOLVED ")).map((l) => l.slice("RESOLVED ".length));
}

const dist = (folder: string) => pathToFileURL(join(REPO, "dist", folder)).href + "/";

test("the worker loads no control-plane module and no store library", () => {
  const urls = resolved("worker/worker.js");
  assert.ok(urls.some((u) => u.startsWith(dist("worker"))), "the recording saw the worker's own modules");
  assert.deepEqual(urls.filter((u) => u.startsWith(dist("platform"))), [], "worker code imports control-plane modules");
  assert.deepEqual(urls.filter((u) => /\/node_modules\/(drizzle-orm|pg|pg-pool|@electric-sql\/pglite)\//.test(u)), [], "worker code loads a store library");
});

test("the control plane loads no worker module", () => {
  const urls = resolved("platform/platform.js");
  assert.ok(urls.some((u) => u.startsWith(dist("platform/store"))), "the recording saw the store");
  assert.deepEqual(urls.filter((u) => u.startsWith(dist("worker"))), [], "control-plane code imports worker modules");
});

test("without Redis, neither the control plane nor the worker loads BullMQ or its Redis client", () => {
  const redis = (u: string) => /\/node_modules\/(bullmq|ioredis)\//.test(u);
  for (const entry of ["platform/platform.js", "worker/worker.js"]) {
    const urls = resolved(entry);
    assert.deepEqual(urls.filter(redis), [], `dist/${entry} loads BullMQ or ioredis on import`);
  }
  // The Redis side itself does load them (the recording would see it).
  assert.ok(resolved("platform/queue/bull-queue.js").some(redis), "the recording saw BullMQ");
});

