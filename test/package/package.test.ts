// The published shape of nbox: `npm pack`, install the tarball into a fresh project, then use it the
// way a user would — plain Node (ESM and CommonJS), a strict TypeScript project, and the CLI.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { REPO, tempDir } from "../platform/jobs/_helpers.ts";

const FIXTURE = join(REPO, "test/package/fixture");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
let project = "";
let packed: string[] = [];

const run = (cmd: string, args: string[], cwd = project) => execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

before(async () => {
  // `npm test` builds first; packing must not rebuild, since other test files use dist/ meanwhile.
  if (!existsSync(join(REPO, "dist/index.js"))) throw new Error("dist/ is missing: run `npm run build` (npm test does) before this test");
  const out = tempDir("nbx-pack-");
  const json = JSON.parse(run(npm, ["pack", "--json", "--ignore-scripts", "--pack-destination", out], REPO)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packed = json[0]!.files.map((f) => f.path);
  project = tempDir("nbx-user-project-");
  cpSync(FIXTURE, project, { recursive: true });
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "user-project", private: true, type: "module" }));
  run(npm, ["install", "--no-audit", "--no-fund", "--prefer-offline", join(out, json[0]!.filename)]);
});


test("the tarball ships the compiled package only", () => {
  assert.ok(packed.includes("dist/index.js") && packed.includes("dist/index.d.ts"), "compiled entry and declarations");
  assert.ok(packed.includes("bin/nbx.js") && packed.includes("README.md") && packed.includes("LICENSE"));
  const stray = packed.filter((p) => /^(src|test|bench|scripts|examples|\.ci)\//.test(p) || p.endsWith(".ts") && !p.endsWith(".d.ts"));
  assert.deepEqual(stray, []);
});

test("plain-JS entries import compiled siblings (.js), which exist in dist and resolve to .ts under tsx", () => {
  // Worker threads and child processes start from these files; a ".ts" import works from the
  // sources (tsx) but breaks the installed package.
  for (const f of packed.filter((p) => p.endsWith(".mjs"))) {
    const text = readFileSync(join(REPO, f), "utf8");
    assert.doesNotMatch(text, /import\(\s*["']\.{1,2}\/[^"']+\.ts["']\s*\)|from\s+["']\.{1,2}\/[^"']+\.ts["']/, f);
  }
  assert.ok(packed.some((p) => p.endsWith("verify-worker.mjs")));
});

test("plain node imports nbox and runs an operator tree", () => {
  assert.deepEqual(JSON.parse(run(process.execPath, ["plain.mjs"])), { square: 49, tree: 9, names: ["", "square"] });
});

test("require() works from CommonJS", () => {
  assert.deepEqual(JSON.parse(run(process.execPath, ["plain.cjs"])), { triple: 15 });
});

test("a strictest tsconfig type-checks against the declarations, and wrong calls stay errors", () => {
  // user.ts holds @ts-expect-error lines: tsc fails if any of them is not an error any more.
  const tsc = join(REPO, "node_modules/typescript/bin/tsc");
  try {
    run(process.execPath, [tsc, "-p", "."]);
  } catch (err) {
    assert.fail(`tsc failed:\n${(err as { stdout?: string }).stdout}`);
  }
});

test("npx nbx --version runs the installed CLI", () => {
  const version = (JSON.parse(run(process.execPath, ["-p", "JSON.stringify(require('./node_modules/nbox/package.json'))"])) as { version: string }).version;
  assert.equal(run("npx", ["--no-install", "nbx", "--version"]).trim(), version);
  assert.ok(readdirSync(join(project, "node_modules/nbox/dist/cli")).includes("main.js"));
});
