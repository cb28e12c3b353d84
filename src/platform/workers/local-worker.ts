// The embedded path: `nbx up` without Redis starts one `nbx worker` process of its own, connected
// over loopback like any other worker (the laptop path is the scale path). It is restarted when it
// dies, and it stops when the control plane goes, even when the control plane is killed.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { NBOX_PACKAGE_DIR } from "../../lib/package-dir.ts";
import type { PlatformConfig } from "../config.ts";

const NBX = join(NBOX_PACKAGE_DIR, "bin", "nbx.js");
const TOKEN_ENV = "NBOX_WORKER_TOKEN";
const MAX_RESTART_DELAY_MS = 5_000;
// Its own environment minus what could reach the control plane with more than a worker token.
const WITHHELD_ENV = ["NBOX_TOKEN", "NBOX_URL"];

export class LocalWorker {
  private child: ChildProcess | undefined;
  private stopped = false;
  private delay = 200;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: PlatformConfig,
    private readonly url: string,
    private readonly token: string,
  ) {}

  start(): void {
    if (this.stopped) return;
    const c = this.config;
    const args = [NBX, "worker", "--platform", this.url, "--local", "--slots", String(c.slots), "--cache", c.cacheDir, "--hide", c.dataDir, "--name", `local worker of ${this.url}`];
    if (!c.sandbox) args.push("--no-sandbox");
    if (c.cacheKeepMs !== undefined) args.push("--cache-keep", `${c.cacheKeepMs}ms`);
    if (c.passEnv.length) args.push("--pass-env", ...c.passEnv);
    const env: NodeJS.ProcessEnv = { ...process.env, [TOKEN_ENV]: this.token };
    for (const k of WITHHELD_ENV) delete env[k];
    const startedAt = Date.now();
    // Its own process group: Ctrl+C in `nbx up`'s terminal reaches `nbx up` alone, which stops the
    // worker in order (SIGTERM: runs handed back, then it leaves) instead of both racing to exit.
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "ignore", "inherit", "ipc"], detached: true });
    this.child = child;
    child.once("exit", (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopped) return;
      // A worker that lived a while gets a quick restart; one that keeps dying, a slower one.
      if (Date.now() - startedAt > 30_000) this.delay = 200;
      process.stderr.write(`[nbox] the local worker exited (${signal ?? `code ${code}`}); restarting in ${this.delay} ms\n`);
      this.restartTimer = setTimeout(() => this.start(), this.delay);
      this.restartTimer.unref();
      this.delay = Math.min(this.delay * 2, MAX_RESTART_DELAY_MS);
    });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Ask the worker to stop (it puts its runs back and leaves), then kill it after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(t);
  }
}
