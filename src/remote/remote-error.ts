/** An error thrown by user code on a worker or serving, rebuilt on the caller's side. */
export class RemoteError extends Error {
  override name = "RemoteError";
  /** Name of the original error class (e.g. "TypeError"). */
  readonly remoteName: string;
  readonly remoteStack?: string;
  constructor(
    remote: { name?: string; message?: string; stack?: string },
    readonly runId?: string,
    opts?: { cause?: unknown },
  ) {
    super(`${remote.name ?? "Error"}: ${remote.message ?? "(no message)"}${runId ? ` (run ${runId})` : ""}`, opts);
    this.remoteName = remote.name ?? "Error";
    this.remoteStack = remote.stack;
    if (remote.stack) this.stack = `${this.name}: ${this.message}\n--- remote stack ---\n${remote.stack}`;
  }
}
