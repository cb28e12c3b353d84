// Once per platform start: find out whether user code can be sandboxed here, and build the launcher both job and serving processes start through.
import { mkdirSync } from "node:fs";
import type { PlatformConfig } from "../platform/config.ts";
import type { PlatformPaths } from "../platform/context.ts";
import { RuntimeLauncher, sandboxTrees, type LauncherOptions } from "./launcher.ts";
import { probeSandbox, type SandboxStatus } from "./sandbox.ts";
import { sweepScratch } from "./scratch.ts";

export async function setupLauncher(config: PlatformConfig, paths: PlatformPaths, tokens: LauncherOptions["tokens"], url: () => string): Promise<RuntimeLauncher> {
  mkdirSync(config.cacheDir, { recursive: true, mode: 0o700 });
  void sweepScratch(paths.scratch);
  const base = { dataDir: config.dataDir, cacheDir: config.cacheDir, depsDir: paths.deps, scratchDir: paths.scratch, compileDir: paths.compile, nboxPackage: paths.nboxPackage, passEnv: config.passEnv, url, tokens };
  const sandbox: SandboxStatus = config.sandbox ? await probeSandbox(sandboxTrees(paths.nboxPackage)) : { kind: "none", reason: "turned off (--no-sandbox)" };
  return new RuntimeLauncher({ ...base, sandbox });
}

/** One line for the startup banner. */
export function describeSandbox(s: SandboxStatus): string {
  return s.kind === "bwrap" ? `bubblewrap (${s.bwrap}): user code sees its bundle, dependencies and a scratch folder, not the platform's files` : `none — user code runs unsandboxed as this OS user: ${s.reason}`;
}
