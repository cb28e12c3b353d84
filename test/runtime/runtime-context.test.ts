import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { foo } from "../operator/fixtures/ops.ts";
import { assertNotInRuntime, RUNTIME_ENV } from "../../src/runtime-context.ts";

const fixture = fileURLToPath(new URL("./fixtures-main.ts", import.meta.url));

function run(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ["--import", "tsx", ...args], { encoding: "utf8", env: { ...process.env, ...env } });
}

test("isMain is true for the entry script and false when imported or inside an nbox runtime", () => {
  assert.match(run([fixture]).stdout, /isMain=true/);
  assert.match(run(["-e", `import(${JSON.stringify(fixture)})`]).stdout, /isMain=false/);
  assert.match(run([fixture], { [RUNTIME_ENV]: "job" }).stdout, /isMain=false/);
});

test("deploy() and process pools refuse to run inside an nbox runtime, with a hint", async () => {
  const old = process.env[RUNTIME_ENV];
  process.env[RUNTIME_ENV] = "job";
  try {
    assert.throws(() => assertNotInRuntime("deploy()"), /deploy\(\) was called while nbox loaded your module inside a job worker.*isMain\(import\.meta\)/s);
    await assert.rejects(foo.deploy("ws"), /inside a job worker/);
    await assert.rejects(foo.map([1, 2], { processes: 2 }), /map\(\{ processes \}\).*inside a job worker/s);
  } finally {
    if (old === undefined) delete process.env[RUNTIME_ENV];
    else process.env[RUNTIME_ENV] = old;
  }
});
