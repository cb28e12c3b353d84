// The workspace tokens user processes get: one per worker and workspace, minted by the control
// plane when the worker first asks (a worker holds no token that could mint one), minted again
// after someone revoked it, and revoked when the worker leaves or is declared dead.
//
// Re-mints are paced. A job holds a token of its own workspace, which may revoke that workspace's
// tokens, its runtime token too; the SDK then asks for a new one. In a loop that was a new token
// row every few milliseconds, for good. So, per worker and workspace: the first FREE_REMINTS
// re-mints come at once (an operator revoking a leaked token, maybe twice, never waits); the next
// waits 1 s after the one before, then 2 s, 4 s, ... up to 60 s, and stays there while the
// revocations keep coming. A token that lived QUIET_MS before it was revoked starts the count again.
// Asked too soon, the route answers 429 with Retry-After and says the token was revoked repeatedly
// (nothing is minted). The pace is kept per control-plane node (a restart forgets it), so the store
// also keeps only the newest KEEP_REVOKED revoked tokens per worker and workspace, and retention
// deletes revoked runtime tokens a day after their revocation (`deleteRevokedRuntimeTokens`).
import { NboxError } from "../../errors.ts";
import type { PlatformContext } from "../context.ts";
import { RUNTIME_TOKEN_PREFIX } from "../store/tokens-repo.ts";

export interface RemintPace {
  /** Re-mints in a row that come at once. */
  free: number;
  /** The wait before the first paced re-mint; doubles with each one after. */
  firstWaitMs: number;
  maxWaitMs: number;
  /** A token that lived this long before it was revoked starts the count again. */
  quietMs: number;
  /** Revoked tokens kept per worker and workspace (the newest), for `nbx token list`. */
  keepRevoked: number;
}

export const REMINT_PACE: RemintPace = { free: 3, firstWaitMs: 1_000, maxWaitMs: 60_000, quietMs: 10 * 60_000, keepRevoked: 10 };

/** A re-mint asked for before its pace allows: nothing was minted. */
export class RuntimeTokenRevokedRepeatedly extends NboxError {
  override name = "RuntimeTokenRevokedRepeatedly";
  constructor(
    readonly workspaceId: string,
    readonly workerId: string,
    /** Times in a row its runtime token was revoked, soon after it was minted. */
    readonly revocations: number,
    readonly retryAfterMs: number,
    workspace: string = workspaceId,
  ) {
    super(
      "RATE_LIMITED",
      `the runtime token of workspace ${workspace} was revoked repeatedly (${revocations} times in a row on worker ${workerId}); ` +
        `a new one is minted in ${Math.ceil(retryAfterMs / 1000)} s. Something holding a token of this workspace keeps revoking it: see \`nbx token list\``,
    );
  }

  /** The same refusal, naming the workspace by its name. */
  naming(workspace: string): RuntimeTokenRevokedRepeatedly {
    return new RuntimeTokenRevokedRepeatedly(this.workspaceId, this.workerId, this.revocations, this.retryAfterMs, workspace);
  }
}

interface Pace {
  /** Re-mints in a row (0: only the first mint). */
  remints: number;
  lastMintAt: number;
}

/** How long after the re-mint before it the `n`th re-mint in a row waits. */
export function remintWaitMs(n: number, pace: RemintPace = REMINT_PACE): number {
  if (n <= pace.free) return 0;
  return Math.min(pace.maxWaitMs, pace.firstWaitMs * 2 ** Math.min(n - pace.free - 1, 30));
}

export class RuntimeTokens {
  private readonly held = new Map<string, Promise<{ id: string; secret: string }>>();
  private readonly paced = new Map<string, Pace>();
  /** When `paced` was last looked over for quiet entries. */
  private lookedOver = -Infinity;
  private readonly now: () => number;
  private readonly pace: RemintPace;
  /** Runtime tokens minted before this node started are not held here (their secrets are gone). */
  private readonly startedAt: number;

  constructor(
    private readonly ctx: PlatformContext,
    opts: { now?: () => number; pace?: Partial<RemintPace> } = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.pace = { ...REMINT_PACE, ...opts.pace };
    this.startedAt = this.now();
  }

  /**
   * The live token user processes of `workspaceId` on `workerId` get.
   * @throws RuntimeTokenRevokedRepeatedly when it must be minted again sooner than the pace allows.
   */
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
      this.forgetQuietPaces();
      const before = this.paced.get(key);
      const pace = this.nextMint(before, workerId, workspaceId);
      this.paced.set(key, pace);
      // A worker that outlived a restart of this node asks again: the token minted for it before is
      // revoked (its processes renew theirs on the refusal), so it never holds two.
      const minting = this.ctx.store.createRuntimeToken(workerId, workspaceId, { keepRevoked: this.pace.keepRevoked, revokeMintedBefore: this.startedAt }).then((t) => {
        if (t.revoked.length > 0) this.ctx.lookups.forgetTokens();
        return t;
      });
      p = minting;
      minting.catch(() => {
        // Nothing was minted: the attempt does not count.
        if (this.held.get(key) === minting) this.held.delete(key);
        if (this.paced.get(key) === pace) before ? this.paced.set(key, before) : this.paced.delete(key);
      });
      this.held.set(key, p);
    }
    return (await p).secret;
  }

  /**
   * A pace whose last mint is a quiet while old counts as none (its next re-mint starts the count
   * again), so it goes: workers that left (also ones another control-plane node declared gone) do
   * not pile up here. Looked over at most once per quiet while.
   */
  private forgetQuietPaces(): void {
    const now = this.now();
    if (now - this.lookedOver < this.pace.quietMs) return;
    this.lookedOver = now;
    for (const [key, pace] of this.paced) if (now - pace.lastMintAt >= this.pace.quietMs) this.paced.delete(key);
  }

  /** The pace after one more mint, or the refusal when it comes too soon. */
  private nextMint(before: Pace | undefined, workerId: string, workspaceId: string): Pace {
    const now = this.now();
    if (!before) return { remints: 0, lastMintAt: now };
    const remints = now - before.lastMintAt >= this.pace.quietMs ? 1 : before.remints + 1;
    const due = before.lastMintAt + remintWaitMs(remints, this.pace);
    if (now < due) throw new RuntimeTokenRevokedRepeatedly(workspaceId, workerId, before.remints + 1, due - now);
    if (remints > this.pace.free) {
      console.error(
        `[nbox runtime-tokens] the runtime token of workspace ${workspaceId} on worker ${workerId} was revoked ${remints} times in a row; ` +
          `minted again, the next one waits ${Math.ceil(remintWaitMs(remints + 1, this.pace) / 1000)} s (a token of that workspace keeps revoking it)`,
      );
    }
    return { remints, lastMintAt: now };
  }

  /** Whether this node keeps anything about some worker's tokens. */
  get holdsAny(): boolean {
    return this.held.size > 0 || this.paced.size > 0;
  }

  /**
   * Forget the tokens and paces of workers not in `live`: gone, maybe declared so by another node
   * (which revoked their tokens in the store). A worker that registers again has a new id.
   */
  forgetAllBut(live: ReadonlySet<string>): void {
    this.forgetWorkers((id) => !live.has(id));
  }

  /** Drop what this node keeps about the workers `which` picks (keys are `<worker>/<workspace>`). */
  private forgetWorkers(which: (workerId: string) => boolean): void {
    for (const map of [this.held, this.paced]) {
      for (const key of [...map.keys()]) if (which(key.slice(0, key.indexOf("/")))) map.delete(key);
    }
  }

  /** Revoke every runtime token of these workers (also ones minted before a control-plane restart). */
  async revokeFor(workerIds: readonly string[]): Promise<void> {
    if (workerIds.length === 0) return;
    const names = new Set(workerIds.map((id) => `${RUNTIME_TOKEN_PREFIX}${id}`));
    const ids = new Set(workerIds);
    this.forgetWorkers((id) => ids.has(id));
    let revoked = false;
    for (const t of await this.ctx.store.listTokens()) {
      if (names.has(t.name) && !t.revokedAt) revoked = (await this.ctx.store.revokeToken(t.id)) || revoked;
    }
    if (revoked) this.ctx.lookups.forgetTokens();
  }
}
