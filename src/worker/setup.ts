// Once per worker start: find out whether user code can be sandboxed here, and build the launcher both job and serving processes start through.
import { mkdirSync } from "node:fs";
import { RuntimeLauncher, sandboxTrees, type LauncherOptions } from "./launcher.ts";
import type { WorkerPaths } from "./paths.ts";
import type { SandboxStatus } from "../contract/vocabulary.ts";
import { probeSandbox } from "./sandbox.ts";
import { sweepScratch } from "./scratch.ts";

export interface LauncherSettings {
  sandbox: boolean;
  passEnv: readonly string[];
  hide: readonly string[];
  runtimeToken: LauncherOptions["runtimeToken"];
}

export async function setupLauncher(paths: WorkerPaths, s: LauncherSettings): Promise<RuntimeLauncher> {
  mkdirSync(paths.cache, { recursive: true, mode: 0o700 });
  void sweepScratch(paths.scratch);
  const sandbox: SandboxStatus = s.sandbox ? await probeSandbox(sandboxTrees(paths.nboxPackage)) : { kind: "none", reason: "turned off (--no-sandbox)" };
  return new RuntimeLauncher({
    sandbox,
    cacheDir: paths.cache,
    hide: s.hide,
    depsDir: paths.deps,
    scratchDir: paths.scratch,
    compileDir: paths.compile,
    nboxPackage: paths.nboxPackage,
    passEnv: s.passEnv,
    runtimeToken: s.runtimeToken,
  });
}

/** One line for the startup banner. */
export function describeSandbox(s: SandboxStatus): string {
  return s.kind === "bwrap" ? `bubblewrap (${s.bwrap}): user code sees its bundle, dependencies and a scratch folder, not the platform's files` : `none — user code runs unsandboxed as this OS user: ${s.reason}`;
}
