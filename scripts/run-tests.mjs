// Node 20's `node --test` has no glob support: find the test files, then hand them to node:test via tsx.
// Three files at once: most end-to-end tests spend their time waiting on processes and long-polls.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { globSync } from "tinyglobby";

// Files are started in this order, the rest alphabetically after them: these take a minute or more
// (mostly waiting on kills, leases and restarts), and started last they ran alone at the end.
// (The crash-recovery suites are not among them: they need the worker to claim runs ahead while its
// slots fill, which the heaviest suites running beside them can starve. They are two files, one per
// store, far apart in the order: one file holding both was the longest of the run and, started
// mid-way, its tail was the run's.)
const LONG_FIRST = [
  "test/worker/chaos",
  "test/cli/cli.test",
  "test/examples/seed-parity",
  "test/security/runtime-token",
  "test/platform/jobs/failures",
  "test/platform/jobs-on-scale/failures",
  "test/platform/serving/security",
  "test/platform/serving-on-scale/security",
  "test/platform/jobs-on-postgres/recovery",
];
const rank = (f) => {
  const i = LONG_FIRST.findIndex((x) => f.includes(x));
  return i < 0 ? LONG_FIRST.length : i;
};

const filters = process.argv.slice(2);
const files = globSync(["test/**/*.test.ts"], { cwd: process.cwd() })
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()
  .sort((a, b) => rank(a) - rank(b));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ") || "test/**/*.test.ts"}`);
  process.exit(1);
}
// The user's own ~/.nbox (current platform record) and worker cache are never touched by tests:
// every test process, and every platform or CLI it starts, gets a private home for both.
const scratch = mkdtempSync(join(tmpdir(), "nbx-test-run-"));
const env = { ...process.env, NBOX_HOME: join(scratch, "nbox-home"), NBOX_CACHE_DIR: process.env.NBOX_CACHE_DIR ?? join(scratch, "cache") };
// --liftoff-only (handed on to every test file's process): each file opens a fresh embedded store,
// and V8 would otherwise recompile PGlite's WebAssembly with its optimizing compiler in background
// threads — over a CPU-second per file for queries a test runs a handful of times. (Platforms the
// tests start as `nbx up` processes compile as users' do.)
const r = spawnSync(process.execPath, ["--liftoff-only", "--import", "tsx", "--test", "--test-concurrency=3", ...files], { stdio: "inherit", env });
rmSync(scratch, { recursive: true, force: true });
process.exit(r.status ?? 1);
