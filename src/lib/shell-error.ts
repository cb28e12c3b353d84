/** How much of each stream a ShellError keeps (the end, where the failure usually is). */
export const TAIL_CHARS = 2048;

export function tail(text: string, max = TAIL_CHARS): string {
  return text.length <= max ? text : `…${text.slice(-max)}`;
}

export interface ShellFailure {
  /** The program (argv[0]); arguments are left out because substituted values may be secrets. */
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Set when the command was killed for running past its timeout. */
  timeoutMs?: number;
}

function describe(f: ShellFailure): string {
  const cmd = JSON.stringify(f.command);
  if (f.timeoutMs !== undefined) return `${cmd} timed out after ${f.timeoutMs} ms and was killed${f.signal ? ` (${f.signal})` : ""}`;
  if (f.signal) return `${cmd} was killed by ${f.signal}`;
  return `${cmd} exited with code ${f.code}`;
}

function section(label: string, full: string, tailText: string): string {
  if (!full) return `\n--- ${label}: (empty) ---`;
  const head = full.length > TAIL_CHARS ? `${label} (last ${TAIL_CHARS / 1024} KB)` : label;
  return `\n--- ${head} ---\n${tailText.replace(/\n$/, "")}`;
}

/**
 * A Shell command that ran and failed: non-zero exit, killed by a signal, or timed out.
 * The message carries the exit code or signal and the tails of stderr and stdout.
 */
export class ShellError extends Error {
  override name = "ShellError";
  readonly command: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly stdoutTail: string;
  readonly stderrTail: string;

  constructor(f: ShellFailure) {
    const stdoutTail = tail(f.stdout);
    const stderrTail = tail(f.stderr);
    super(`Shell: ${describe(f)}${section("stderr", f.stderr, stderrTail)}${section("stdout", f.stdout, stdoutTail)}`);
    this.command = f.command;
    this.code = f.code;
    this.signal = f.signal;
    this.timedOut = f.timeoutMs !== undefined;
    this.stdoutTail = stdoutTail;
    this.stderrTail = stderrTail;
  }
}
