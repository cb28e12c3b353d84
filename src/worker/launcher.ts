// How this platform starts user processes, per workspace: sandboxed or not, and which token the
// process gets. The token is a workspace token minted once per workspace per platform start
// (never the admin token), enough for nested fromJob()/deploy() inside the same workspace;
// the platform revokes them when it stops.
import { homedir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import type { SandboxStatus } from "./sandbox.ts";
import { nodePrefix } from "./sandbox.ts";
import { nboxHome } from "../remote/current-platform.ts";
import type { RuntimeLaunch } from "./spawn-runtime.ts";

export const RUNTIME_TOKEN_NAME = "runtime";

export interface LauncherOptions {
  sandbox: SandboxStatus;
  dataDir: string;
  cacheDir: string;
  /** Installed dependencies, inside the cache. */
  depsDir: string;
  scratchDir: string;
  /** Per-workspace compile caches live below this. */
  compileDir: string;
  nboxPackage: string;
  passEnv: readonly string[];
  /** The URL user code reaches the platform at (known once it listens). */
  url(): string;
  tokens: {
    createToken(input: { scope: "workspace"; workspaceId: string; name: string }): Promise<{ id: string; secret: string }>;
    revokeToken(id: string): Promise<unknown>;
    /** Whether a token still works (false once revoked, on this node or another). */
    isLive(secret: string): Promise<boolean>;
  };
}

export class RuntimeLauncher {
  private readonly perWorkspace = new Map<string, Promise<RuntimeLaunch & { tokenId: string }>>();
  private readonly sandbox: RuntimeLaunch["sandbox"];

  constructor(private readonly o: LauncherOptions) {
    this.sandbox =
      o.sandbox.kind === "bwrap"
        ? {
            bwrap: o.sandbox.bwrap,
            trees: sandboxTrees(o.nboxPackage),
            hide: [o.dataDir, join(homedir(), ".nbox"), nboxHome(), o.cacheDir].map((p) => resolve(p)),
            depsRoot: resolve(o.depsDir),
          }
        : undefined;
  }

  /** Whether user processes run sandboxed, and if not, why. */
  get status(): SandboxStatus {
    return this.o.sandbox;
  }

  /**
   * Launch settings for a process of this workspace (its token minted on first use, and again
   * after someone revoked it: a leaked runtime token is revoked, not a reason to restart).
   */
  async forWorkspace(workspaceId: string): Promise<RuntimeLaunch> {
    const held = this.perWorkspace.get(workspaceId);
    if (held) {
      const l = await held.catch(() => undefined);
      if (l && (await this.o.tokens.isLive(l.inject!.NBOX_TOKEN!))) return l;
      if (this.perWorkspace.get(workspaceId) === held) this.perWorkspace.delete(workspaceId);
    }
    return this.mint(workspaceId);
  }

  private mint(workspaceId: string): Promise<RuntimeLaunch> {
    let p = this.perWorkspace.get(workspaceId);
    if (!p) {
      p = this.o.tokens.createToken({ scope: "workspace", workspaceId, name: RUNTIME_TOKEN_NAME }).then(({ id, secret }) => ({
        tokenId: id,
        sandbox: this.sandbox,
        scratchRoot: this.o.scratchDir,
        inject: { NBOX_URL: this.o.url(), NBOX_TOKEN: secret },
        compileCache: join(this.o.compileDir, workspaceId),
        passEnv: this.o.passEnv,
      }));
      p.catch(() => this.perWorkspace.delete(workspaceId));
      this.perWorkspace.set(workspaceId, p);
    }
    return p;
  }

  /** Revoke the runtime tokens this start minted. */
  async close(): Promise<void> {
    const all = [...this.perWorkspace.values()];
    this.perWorkspace.clear();
    for (const p of all) {
      const l = await p.catch(() => undefined);
      if (l) await this.o.tokens.revokeToken(l.tokenId).catch(() => {});
    }
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
