// Node 20's `node --test` has no glob support: find the test files, then hand them to node:test via tsx.
import { spawnSync } from "node:child_process";
import { globSync } from "tinyglobby";

const filters = process.argv.slice(2);
const files = globSync(["test/**/*.test.ts"], { cwd: process.cwd() })
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ") || "test/**/*.test.ts"}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
