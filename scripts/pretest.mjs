// First step of `npm test`: the build (skipped when dist/ is already built from these sources, as
// `npm ci` leaves it) and the typecheck of sources and tests, side by side: each is one busy core.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const run = (args) =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: "inherit" });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const codes = await Promise.all([run([join(root, "scripts", "build.mjs"), "--if-changed"]), run([tsc, "--noEmit", "-p", "."])]);
process.exit(codes.find((c) => c !== 0) ?? 0);
