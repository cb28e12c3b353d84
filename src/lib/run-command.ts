import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { ShellError } from "./shell-error.ts";

export interface RunCommandOptions {
  cwd?: string;
  /** Merged over `process.env`; a key set to `undefined` is removed. */
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Copy output line by line to this process's stdout/stderr as it arrives (default true). */
  stream?: boolean;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** After SIGTERM on timeout, how long a command gets before SIGKILL. */
const KILL_GRACE_MS = 2000;
/** A partial line longer than this is written out without waiting for its newline. */
const MAX_PARTIAL = 64 * 1024;

/** Collects a stream's text and forwards it to `out` one whole line at a time. */
class LineTee {
  private readonly chunks: string[] = [];
  private partial = "";
  constructor(private readonly out: NodeJS.WritableStream | undefined) {}

  push(chunk: string): void {
    this.chunks.push(chunk);
    if (!this.out) return;
    const text = this.partial + chunk;
    const nl = text.lastIndexOf("\n");
    if (nl < 0 && text.length < MAX_PARTIAL) {
      this.partial = text;
      return;
    }
    const cut = nl < 0 ? text.length : nl + 1;
    this.out.write(nl < 0 ? `${text}\n` : text.slice(0, cut));
    this.partial = text.slice(cut);
  }

  /** Flush an unterminated last line and return everything collected. */
  end(): string {
    if (this.out && this.partial) this.out.write(`${this.partial}\n`);
    this.partial = "";
    return this.chunks.join("");
  }
}

function spawnError(argv0: string, cwd: string | undefined, err: NodeJS.ErrnoException): Error {
  if (err.code === "ENOENT" && cwd !== undefined && !existsSync(cwd)) {
    return new Error(`Shell: working directory ${JSON.stringify(cwd)} does not exist (running ${JSON.stringify(argv0)})`, { cause: err });
  }
  if (err.code === "ENOENT") {
    return new Error(`Shell: command not found: ${JSON.stringify(argv0)} (is it installed and on PATH? commands run without a shell, so shell builtins and aliases are not available)`, { cause: err });
  }
  if (err.code === "EACCES") return new Error(`Shell: permission denied running ${JSON.stringify(argv0)} (is it executable?)`, { cause: err });
  return new Error(`Shell: could not start ${JSON.stringify(argv0)}: ${err.message}`, { cause: err });
}

function mergedEnv(env: RunCommandOptions["env"]): NodeJS.ProcessEnv {
  if (!env) return process.env;
  const out: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

/**
 * Run `argv` directly (no shell), streaming and collecting its output. Resolves on exit code 0;
 * rejects with a ShellError on a non-zero exit, a signal or a timeout, and with a plain Error
 * naming the command when it cannot be started.
 */
export function runCommand(argv: string[], opts: RunCommandOptions = {}): Promise<CommandResult> {
  const [argv0, ...rest] = argv as [string, ...string[]];
  const { cwd, timeoutMs, stream = true } = opts;
  return new Promise<CommandResult>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(argv0, rest, { cwd, env: mergedEnv(opts.env), shell: false, stdio: ["ignore", "pipe", "pipe"] });
    } catch (err) {
      reject(spawnError(argv0, cwd, err as NodeJS.ErrnoException));
      return;
    }
    const out = new LineTee(stream ? process.stdout : undefined);
    const err = new LineTee(stream ? process.stderr : undefined);
    child.stdout!.setEncoding("utf8").on("data", (c: string) => out.push(c));
    child.stderr!.setEncoding("utf8").on("data", (c: string) => err.push(c));

    let settled = false;
    let timedOut = false;
    let exited = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timer =
      timeoutMs !== undefined && Number.isFinite(timeoutMs)
        ? setTimeout(() => {
            if (exited) return; // already gone, only its output is still draining
            timedOut = true;
            child.kill("SIGTERM");
            killTimer = setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS);
          }, timeoutMs)
        : undefined;

    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      const stdout = out.end();
      const stderr = err.end();
      if (!timedOut && code === 0) return resolve({ code, stdout, stderr });
      reject(new ShellError({ command: argv0, code, signal, stdout, stderr, ...(timedOut ? { timeoutMs } : {}) }));
    };
    child.on("error", (e) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(spawnError(argv0, cwd, e as NodeJS.ErrnoException));
    });
    // Normally wait for 'close' (all output read). After a timeout kill, a grandchild may still
    // hold the pipes open, so settle on 'exit' and stop reading.
    child.on("exit", (code, signal) => {
      exited = true;
      if (!timedOut) return;
      child.stdout!.destroy();
      child.stderr!.destroy();
      finish(code, signal);
    });
    child.on("close", finish);
  });
}
