// How this worker starts user processes, per workspace: sandboxed or not, and which token the
// process gets. The token is a workspace token the control plane mints for this worker (never an
// admin or worker token), enough for nested fromJob()/deploy() inside the same workspace; the
// control plane re-mints it when it was revoked and revokes it when the worker goes away.
import { homedir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import type { SandboxStatus } from "./sandbox.ts";
import { nodePrefix } from "./sandbox.ts";
import { nboxHome } from "../remote/current-platform.ts";
import type { RuntimeLaunch } from "./spawn-runtime.ts";

// A token handed out is used again for this long before the control plane is asked (and re-mints
// a revoked one): one question per workspace per interval, not one per run.
const TOKEN_REUSE_MS = 1_000;

export interface LauncherOptions {
  sandbox: SandboxStatus;
  cacheDir: string;
  /** Folders user code must never see even where they fall inside shown trees (a control plane's data folder). */
  hide: readonly string[];
  /** Installed dependencies, inside the cache. */
  depsDir: string;
  scratchDir: string;
  /** Per-workspace compile caches live below this. */
  compileDir: string;
  nboxPackage: string;
  passEnv: readonly string[];
  /** The token user processes of this workspace get, and the URL they reach the platform at. */
  runtimeToken(workspaceId: string): Promise<{ token: string; url: string }>;
}

export class RuntimeLauncher {
  private readonly perWorkspace = new Map<string, { at: number; launch: Promise<RuntimeLaunch> }>();
  private readonly sandbox: RuntimeLaunch["sandbox"];

  constructor(private readonly o: LauncherOptions) {
    this.sandbox =
      o.sandbox.kind === "bwrap"
        ? {
            bwrap: o.sandbox.bwrap,
            trees: sandboxTrees(o.nboxPackage),
            hide: [...o.hide, join(homedir(), ".nbox"), nboxHome(), o.cacheDir].map((p) => resolve(p)),
            depsRoot: resolve(o.depsDir),
          }
        : undefined;
  }

  /** Whether user processes run sandboxed, and if not, why. */
  get status(): SandboxStatus {
    return this.o.sandbox;
  }

  /** Launch settings for a process of this workspace. */
  forWorkspace(workspaceId: string): Promise<RuntimeLaunch> {
    const held = this.perWorkspace.get(workspaceId);
    if (held && Date.now() - held.at < TOKEN_REUSE_MS) return held.launch;
    const launch = this.o.runtimeToken(workspaceId).then(({ token, url }) => ({
      sandbox: this.sandbox,
      scratchRoot: this.o.scratchDir,
      inject: { NBOX_URL: url, NBOX_TOKEN: token },
      compileCache: join(this.o.compileDir, workspaceId),
      passEnv: this.o.passEnv,
    }));
    launch.catch(() => this.perWorkspace.get(workspaceId)?.launch === launch && this.perWorkspace.delete(workspaceId));
    this.perWorkspace.set(workspaceId, { at: Date.now(), launch });
    return launch;
  }
}

/**
 * Read-only trees every user process needs: node's install prefix and the nbox package. An nbox
 * installed into a project's node_modules finds its own dependencies hoisted next to it, so the
 * whole node_modules folder is shown then.
 */
export function sandboxTrees(nboxPackage: string): string[] {
  let pkg = resolve(nboxPackage);
  let parent = dirname(pkg);
  if (basename(parent).startsWith("@")) parent = dirname(parent);
  if (basename(parent) === "node_modules") pkg = parent;
  return [nodePrefix(), pkg];
}
