// How this worker starts user processes, per workspace: sandboxed or not, and which token the
// process gets. The token is a workspace token the control plane mints for this worker (never an
// admin or worker token), enough for nested fromJob()/deploy() inside the same workspace; the
// control plane re-mints it when it was revoked and revokes it when the worker goes away.
import { homedir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import type { SandboxStatus } from "../contract/vocabulary.ts";
import { nodePrefix } from "./sandbox.ts";
import { nboxHome } from "../remote/current-platform.ts";
import type { RuntimeLaunch } from "./spawn-runtime.ts";


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
  /** Questions to the control plane under way, per workspace (asked once for everyone waiting). */
  private readonly asking = new Map<string, Promise<RuntimeLaunch>>();
  /** The last settings each workspace got. */
  private readonly latest = new Map<string, RuntimeLaunch>();
  /** The sandbox user processes run in (also a version's compile); undefined: none. */
  readonly sandbox: RuntimeLaunch["sandbox"];

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

  /**
   * Launch settings for a new process of this workspace, with its token as the control plane has it
   * now (it re-mints one that was revoked): asked for every process started, never from a cache.
   */
  forWorkspace(workspaceId: string): Promise<RuntimeLaunch> {
    let launch = this.asking.get(workspaceId);
    if (launch) return launch;
    launch = this.o.runtimeToken(workspaceId).then(({ token, url }) => {
      const l: RuntimeLaunch = {
        sandbox: this.sandbox,
        scratchRoot: this.o.scratchDir,
        inject: { NBOX_URL: url, NBOX_TOKEN: token },
        // Asked afresh: the control plane mints a new token when the one it handed out was revoked.
        renewToken: () => this.forWorkspace(workspaceId).then((l) => l.inject?.NBOX_TOKEN),
        compileCache: join(this.o.compileDir, workspaceId),
        passEnv: this.o.passEnv,
      };
      this.latest.set(workspaceId, l);
      return l;
    });
    const asked = launch;
    void asked.catch(() => {}).finally(() => this.asking.get(workspaceId) === asked && this.asking.delete(workspaceId));
    this.asking.set(workspaceId, asked);
    return asked;
  }

  /**
   * For a call that will most likely reuse a live process (which holds its token already): the
   * settings this workspace got last, without asking; a fresh question when there are none.
   */
  forWarmCall(workspaceId: string): Promise<RuntimeLaunch> {
    const l = this.latest.get(workspaceId);
    return l ? Promise.resolve(l) : this.forWorkspace(workspaceId);
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
