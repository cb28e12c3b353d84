// `npm run build`: compile src/ to dist/ (JavaScript, declarations, source maps) and copy the files
// tsc does not emit (plain-JS process entries) beside them. Built in a fresh folder and swapped in,
// so processes using dist/ meanwhile (tests, a running platform) never see it half-written.
// `--if-changed`: nothing to do when dist/ was built from these very sources (as `npm ci` just did).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { globSync } from "tinyglobby";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const fresh = `${dist}.${process.pid}.tmp`;
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const STAMP = ".source-hash";
const sources = sourceHash();
if (process.argv.includes("--if-changed") && existsSync(join(dist, STAMP)) && readFileSync(join(dist, STAMP), "utf8") === sources) process.exit(0);
// Folders a killed build left behind (named by its pid); a build still running elsewhere keeps its own.
for (const left of globSync(["dist.*.tmp", "dist.*.old"], { cwd: root, onlyDirectories: true })) {
  const pid = Number(left.split(".")[1]);
  if (!isAlive(pid)) rmSync(join(root, left), { recursive: true, force: true });
}
const r = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json", "--outDir", fresh], { cwd: root, stdio: "inherit" });
// tsc emits even with type errors; the package is completed anyway, and the build still fails.
for (const f of globSync(["**/*", "!**/*.ts"], { cwd: join(root, "src") })) cpSync(join(root, "src", f), join(fresh, f));
if (r.status === 0) writeFileSync(join(fresh, STAMP), sources);
const old = `${dist}.${process.pid}.old`;
if (existsSync(dist)) renameSync(dist, old);
renameSync(fresh, dist);
rmSync(old, { recursive: true, force: true });
if (r.status !== 0) process.exit(r.status ?? 1);

/** What dist/ is made from: the sources, the compiler settings and the compiler's version. */
function sourceHash() {
  const h = createHash("sha256").update(JSON.parse(readFileSync(createRequire(import.meta.url).resolve("typescript/package.json"), "utf8")).version);
  const files = ["tsconfig.json", "tsconfig.build.json", ...globSync(["src/**/*"], { cwd: root }).sort()];
  for (const f of files) h.update(`\0${f}\0`).update(readFileSync(join(root, f)));
  return h.digest("hex");
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}
