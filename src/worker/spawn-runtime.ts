// Start one user process (a job worker or a serving): node running the runtime entry, in the
// version's bundle folder, with a scratch folder, the allow-listed environment and, when the
// platform has one, inside the sandbox. Job and serving processes both start here.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readdirSync, readlinkSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { childEnv } from "./child-env.ts";
import { isInside } from "../lib/is-inside.ts";
import { killTagged, newProcessTag, PROCESS_TAG_ENV, startTime } from "./process-tag.ts";
import { WATCH_PARENT_ENV, watchThisParent } from "./runtime/protocol.ts";
import { bwrapArgs } from "./sandbox.ts";
import { createScratch, removeScratch, type Scratch } from "./scratch.ts";

/** How the platform starts user processes of one workspace. */
export interface RuntimeLaunch {
  /** Run under bubblewrap; absent = unsandboxed. */
  sandbox?: {
    bwrap: string;
    /** Shown read-only: node's prefix and the nbox package. */
    trees: readonly string[];
    /** Hidden wherever they fall inside `trees`: data folder, ~/.nbox, the worker cache. */
    hide: readonly string[];
    /** Installed dependencies live here; a bundle's node_modules links into it. */
    depsRoot: string;
  };
  /** Where per-process scratch folders are made. */
  scratchRoot: string;
  /** Set in the process: NBOX_URL and a token of this workspace. */
  inject?: Record<string, string>;
  /** The workspace's token now, for a process whose injected one the platform refused (revoked). */
  renewToken?: () => Promise<string | undefined>;
  /** Compiled TypeScript kept across processes of this workspace (cold starts skip recompiling). */
  compileCache?: string;
  /** Extra environment names passed through from the platform. */
  passEnv?: readonly string[];
}

/** Without a platform's launch settings (executor tests): unsandboxed, nothing injected. */
const DEFAULT_LAUNCH: RuntimeLaunch = { scratchRoot: join(tmpdir(), "nbox-scratch") };

export interface RuntimeSpawn {
  /** The runtime's entry module (runtime-main.mjs). */
  script: string;
  runtime: "job" | "serving";
  bundleDir: string;
  execArgv?: readonly string[];
  /** Protocol variables for the runtime (undefined removes); may depend on the scratch folder. */
  env?: Record<string, string | undefined> | ((scratch: Scratch) => Record<string, string | undefined>);
  serialization?: "json" | "advanced";
  launch?: RuntimeLaunch;
}

export interface SpawnedRuntime {
  child: ChildProcess;
  scratch: Scratch;
  /**
   * Resolves once the process has exited and what it left behind is gone: its process group and
   * (sandboxed) its scratch folder. Unsandboxed, the processes carrying its tag are ended after
   * this resolves, then its scratch folder is removed.
   */
  reaped: Promise<void>;
}

/** Spawn the process; its scratch folder is removed when it exits. */
export function spawnRuntime(o: RuntimeSpawn): SpawnedRuntime {
  const launch = o.launch ?? DEFAULT_LAUNCH;
  const scratch = createScratch(launch.scratchRoot);
  const extra = typeof o.env === "function" ? o.env(scratch) : o.env;
  const tag = launch.sandbox ? undefined : newProcessTag();
  const watch = tag === undefined ? {} : { [WATCH_PARENT_ENV]: watchThisParent(), [PROCESS_TAG_ENV]: tag };
  const env = childEnv({ runtime: o.runtime, home: scratch.home, tmp: scratch.tmp, passEnv: launch.passEnv, set: { ...launch.inject, ...extra, ...watch } });
  const readWrite = [scratch.dir];
  if (launch.compileCache) {
    // tsx keeps its cache in `$TMPDIR/tsx-<euid>`: point that at the workspace's cache.
    mkdirSync(launch.compileCache, { recursive: true, mode: 0o700 });
    symlinkSync(launch.compileCache, join(scratch.tmp, `tsx-${process.geteuid?.() ?? 0}`), "dir");
    readWrite.push(launch.compileCache);
  }
  const node = [...(o.execArgv ?? []), o.script];
  const options = { env, stdio: ["ignore", "pipe", "pipe", "ipc"] as const, serialization: o.serialization ?? "json" };
  const sb = launch.sandbox;
  // Its own process group (detached = setsid), and the whole group goes when its leader exits:
  // processes user code started (a Shell command, a stray subprocess) must not outlive a run that
  // timed out, was cancelled or whose worker stopped — and bwrap killed while still setting up the
  // sandbox can leave the processes it already started behind. (Under bwrap, its PID namespace and
  // --die-with-parent take the sandbox's processes along too.)
  const spawnOptions = { ...options, stdio: [...options.stdio], detached: true };
  let child: ChildProcess;
  if (sb) {
    const readOnly = [o.bundleDir, ...dependencyTrees(o.bundleDir, sb.depsRoot)];
    const args = bwrapArgs({ trees: sb.trees, hide: sb.hide, readOnly, readWrite, cwd: o.bundleDir });
    child = spawn(sb.bwrap, [...args, process.execPath, ...node], spawnOptions);
  } else {
    child = spawn(process.execPath, node, { ...spawnOptions, cwd: o.bundleDir });
  }
  // Its descendants start no earlier: the tag sweep skips every process older than this one.
  const since = tag === undefined ? undefined : startTime(child.pid);
  const reaped = new Promise<void>((resolve) => {
    child.once("exit", () => {
      killGroup(child.pid);
      if (tag === undefined) return void removeScratch(scratch).finally(resolve);
      // User code sets what the sweep reads (how many processes, how large their environments):
      // the crash result and the slot do not wait for it. The scratch folder goes after it, once
      // nothing tagged can still write there.
      void killTagged(tag, { since })
        .catch(() => 0)
        .then(() => removeScratch(scratch));
      resolve();
    });
    // spawn() failed (no pid): there will be no "exit".
    child.once("error", () => child.pid === undefined && void removeScratch(scratch).finally(resolve));
  });
  return { child, scratch, reaped };
}

/** SIGKILL to process group `pid` (what is left of it). */
export function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    // Until every member is gone the group id is not reused, so this reaches only the sandbox's leftovers.
    process.kill(-pid, "SIGKILL");
  } catch {
    // ESRCH: nothing left
  }
}

/** The installed-dependency folders a bundle's node_modules links into (only those under `depsRoot`). */
export function dependencyTrees(bundleDir: string, depsRoot: string): string[] {
  const nm = join(bundleDir, "node_modules");
  const out = new Set<string>();
  let names: string[] = [];
  try {
    names = readdirSync(nm);
  } catch {
    return [];
  }
  for (const name of names) {
    try {
      const target = resolve(nm, readlinkSync(join(nm, name)));
      if (isInside(target, depsRoot)) out.add(dirname(target));
    } catch {
      // not a link: part of the bundle folder, shown already
    }
  }
  return [...out];
}
