// `npm run build`: compile src/ to dist/ (JavaScript, declarations, source maps) and copy the files
// tsc does not emit (plain-JS process entries, dashboard assets) beside them.
import { spawnSync } from "node:child_process";
import { cpSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { globSync } from "tinyglobby";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
rmSync(join(root, "dist"), { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
// tsc emits even with type errors; copy the rest anyway so dist/ is never half a package, then fail.
for (const f of globSync(["**/*", "!**/*.ts"], { cwd: join(root, "src") })) cpSync(join(root, "src", f), join(root, "dist", f));
if (r.status !== 0) process.exit(r.status ?? 1);
