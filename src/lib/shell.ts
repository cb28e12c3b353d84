import { Operator } from "../operator/operator.ts";
import { FLOW_LEAF } from "../operator/brand.ts";
import { getTracer } from "../trace/tracer.ts";
import { runCommand, type CommandResult, type RunCommandOptions } from "./run-command.ts";
import { parseTemplate, placeholderNames, substitute, type ArgTemplate, type ShellValue } from "./shell-template.ts";

export interface ShellOptions {
  /** Working directory of the command (default: this process's). */
  cwd?: string;
  /** Extra environment variables, merged over `process.env`; `undefined` removes one. */
  env?: Record<string, string | undefined>;
  /** Kill the command (SIGTERM, then SIGKILL) and reject when it runs longer than this. */
  timeoutMs?: number;
  /** Copy output line by line to this process's stdout/stderr (the run log) as it arrives. Default true. */
  stream?: boolean;
  /**
   * Placeholders whose values may be options. Any other string value that would start an argument
   * with `-` before the template's `--` is refused, because the program would read it as an option.
   * @example new Shell("git log {flag} -- {path}", { allowOptions: ["flag"] })
   */
  allowOptions?: string[];
}

/** What a successful command returns; `code` is always 0 (anything else throws a ShellError). */
export type ShellResult = CommandResult;

/**
 * A prebuilt operator that runs one command. The template is split into argv *before* values
 * are substituted and the program is spawned without a shell, so a value with spaces, quotes,
 * `;`, `$(…)`, `*` or backticks stays one argument and is never interpreted.
 *
 * A value starting with `-` would still be read as an option by the program, so Shell refuses a
 * string value that begins an argument before the template's `--` (numbers pass: `-3` is data).
 * Write `--` to end options where the program supports it (`ls -- {path}`; the `--` reaches the
 * program as-is), join the value to its option (`--out={out}`), or list placeholders meant to carry
 * options in `allowOptions`.
 * @example
 * const download = new Shell("wget --output-document={out} https://example.com/{hash}", { timeoutMs: 60_000 })
 * const { stdout } = await download({ hash: "x", out: "/tmp/x" })
 * const list = new Shell("ls -l -- {path}")       // path = "-rf" is listed, not taken as options
 */
export class Shell extends Operator {
  readonly template: string;
  readonly cwd: string | undefined;
  readonly env: Record<string, string | undefined> | undefined;
  readonly timeoutMs: number | undefined;
  readonly stream: boolean;
  readonly #args: ArgTemplate[];
  readonly #allowOptions: ReadonlySet<string>;

  constructor(template: string, opts: ShellOptions = {}) {
    super();
    if (typeof template !== "string") throw new TypeError(`new Shell(template): template must be a string, got ${typeof template}`);
    const { timeoutMs } = opts;
    if (timeoutMs !== undefined && !(typeof timeoutMs === "number" && timeoutMs > 0)) {
      throw new RangeError(`new Shell(…, { timeoutMs }): must be a positive number of milliseconds (omit it for no timeout), got ${timeoutMs}`);
    }
    this.#args = parseTemplate(template);
    this.#allowOptions = allowedOptions(opts.allowOptions, placeholderNames(this.#args), template);
    this.template = template;
    this.cwd = opts.cwd;
    this.env = opts.env;
    this.timeoutMs = timeoutMs;
    this.stream = opts.stream ?? true;
  }

  /** Placeholder names of the template, in order of first appearance. */
  get placeholders(): string[] {
    return placeholderNames(this.#args);
  }

  /** The argv that `forward(values)` would run (useful for logging and tests). */
  argv(values?: Record<string, ShellValue>): string[] {
    return substitute(this.#args, values, JSON.stringify(this.template), this.#allowOptions);
  }

  async forward(values?: Record<string, ShellValue>): Promise<ShellResult> {
    const argv = this.argv(values);
    const span = getTracer().currentSpan();
    if (span) span.attributes.command = argv[0];
    const opts: RunCommandOptions = { cwd: this.cwd, env: this.env, timeoutMs: this.timeoutMs, stream: this.stream };
    const result = await runCommand(argv, opts);
    if (span) span.attributes.exitCode = result.code;
    return result;
  }
}

function allowedOptions(names: unknown, placeholders: string[], template: string): ReadonlySet<string> {
  if (names === undefined) return new Set();
  if (!Array.isArray(names) || !names.every((n) => typeof n === "string")) {
    throw new TypeError(`new Shell(…, { allowOptions }): must be an array of placeholder names, e.g. ["flag"] for {flag}`);
  }
  const unknown = names.filter((n) => !placeholders.includes(n));
  if (unknown.length) {
    throw new TypeError(`new Shell(${JSON.stringify(template)}, { allowOptions }): ${unknown.map((n) => `{${n}}`).join(", ")} is not a placeholder of the template (placeholders: ${placeholders.map((n) => `{${n}}`).join(", ") || "(none)"})`);
  }
  return new Set(names);
}

// In a flow, a Shell step is one call node; its own forward is nbox internals.
Object.defineProperty(Shell.prototype, FLOW_LEAF, { value: true });
