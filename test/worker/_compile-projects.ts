// Bundle folders for compile tests: each a `bundle` folder (an ES package unless the tree says
// otherwise) inside a folder holding files outside the bundle; all removed after the suite.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { after } from "node:test";
import { tempDir, writeTree } from "../bundle/_helpers.ts";

export const ESM_PACKAGE = JSON.stringify({ name: "p", type: "module" });

export function compileProjects(): (tree: Record<string, string>, around?: Record<string, string>) => Promise<string> {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups) await c();
  });
  return async (tree, around = {}) => {
    const { dir, cleanup } = await tempDir("nbox-compile-");
    cleanups.push(cleanup);
    await writeTree(dir, around);
    await writeTree(join(dir, "bundle"), { "package.json": ESM_PACKAGE, ...tree });
    return join(dir, "bundle");
  };
}

/** Run `script` (an ES module's text) with plain Node in `dir`; its stdout parsed as JSON. */
export function runNode(dir: string, script: string, execArgv: string[] = []): unknown {
  const r = spawnSync(process.execPath, [...execArgv, "--enable-source-maps", "--input-type=module", "-e", script], { cwd: dir, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`node failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}
