// Node 20's `node --test` has no glob support: find the test files, then hand them to node:test via tsx.
// Four files at once (on 2 cores): most end-to-end tests spend their time waiting on processes and
// long-polls; with three the machine sat about a quarter idle.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { globSync } from "tinyglobby";

const filters = process.argv.slice(2);
const files = globSync(["test/**/*.test.ts"], { cwd: process.cwd() })
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ") || "test/**/*.test.ts"}`);
  process.exit(1);
}
// The user's own ~/.nbox (current platform record) and worker cache are never touched by tests:
// every test process, and every platform or CLI it starts, gets a private home for both.
const scratch = mkdtempSync(join(tmpdir(), "nbx-test-run-"));
const env = { ...process.env, NBOX_HOME: join(scratch, "nbox-home"), NBOX_CACHE_DIR: process.env.NBOX_CACHE_DIR ?? join(scratch, "cache") };
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=4", ...files], { stdio: "inherit", env });
rmSync(scratch, { recursive: true, force: true });
process.exit(r.status ?? 1);
