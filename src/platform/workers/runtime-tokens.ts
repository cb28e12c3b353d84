// The workspace tokens user processes get: one per worker and workspace, minted by the control
// plane when the worker first asks (a worker holds no token that could mint one), minted again
// after someone revoked it, and revoked when the worker leaves or is declared dead.
import type { PlatformContext } from "../context.ts";

const NAME_PREFIX = "runtime:";

export class RuntimeTokens {
  private readonly held = new Map<string, Promise<{ id: string; secret: string }>>();

  constructor(private readonly ctx: PlatformContext) {}

  /** The live token user processes of `workspaceId` on `workerId` get. */
  async forWorker(workerId: string, workspaceId: string): Promise<string> {
    const key = `${workerId}/${workspaceId}`;
    const held = this.held.get(key);
    if (held) {
      const t = await held.catch(() => undefined);
      if (t && (await this.ctx.lookups.token(t.secret))) return t.secret;
      if (this.held.get(key) === held) this.held.delete(key);
    }
    let p = this.held.get(key);
    if (!p) {
      p = this.ctx.store.createToken({ scope: "workspace", workspaceId, name: `${NAME_PREFIX}${workerId}` });
      p.catch(() => this.held.delete(key));
      this.held.set(key, p);
    }
    return (await p).secret;
  }

  /** Revoke every runtime token of these workers (also ones minted before a control-plane restart). */
  async revokeFor(workerIds: readonly string[]): Promise<void> {
    if (workerIds.length === 0) return;
    const names = new Set(workerIds.map((id) => `${NAME_PREFIX}${id}`));
    for (const key of [...this.held.keys()]) if (workerIds.some((id) => key.startsWith(`${id}/`))) this.held.delete(key);
    let revoked = false;
    for (const t of await this.ctx.store.listTokens()) {
      if (names.has(t.name) && !t.revokedAt) revoked = (await this.ctx.store.revokeToken(t.id)) || revoked;
    }
    if (revoked) this.ctx.lookups.forgetTokens();
  }
}
