// Printing helpers shared by every command: tables, JSON, values, errors, progress.
import { inspect } from "node:util";
import type { Ora } from "ora";
import { toPlain } from "../codec/to-plain.ts";
import { isNboxError, NboxError } from "../errors.ts";
import { parseDuration } from "../lib/duration.ts";

/** Failure the CLI reports as one line (+ hint) and a non-zero exit; never a stack. */
export class CliError extends NboxError {}

export const fail = (message: string, hint?: string): never => {
  throw new CliError("BAD_REQUEST", message, hint);
};

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, jsonReplacer, 2) + "\n");
}

function jsonReplacer(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? v.toString() : v;
}

/** Left-aligned columns; `rows` are already strings. Prints a placeholder when empty. */
export function printTable(headers: string[], rows: string[][], empty = "(none)"): void {
  if (rows.length === 0) {
    process.stdout.write(empty + "\n");
    return;
  }
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd();
  process.stdout.write([line(headers), ...rows.map(line)].join("\n") + "\n");
}

/**
 * A result as the CLI prints it: a string as is (shell-friendly), anything else as the same plain
 * JSON a curl caller gets (Dates as ISO strings, Maps as objects, bigints as strings…), nothing for
 * `undefined`.
 */
export function formatValue(v: unknown): string {
  if (typeof v === "string") return v;
  if (v === undefined) return "";
  try {
    const json = JSON.stringify(toPlain(v));
    return json.length > 80 ? JSON.stringify(JSON.parse(json), null, 2) : json;
  } catch {
    return inspect(v, { depth: null, colors: false }); // a value plain JSON cannot hold (a cycle)
  }
}

/** A result on stdout, as formatValue shows it, one line of its own; nothing at all for undefined. */
export function printValue(v: unknown): void {
  if (v !== undefined) process.stdout.write(formatValue(v) + "\n");
}

/** Parse one JSON command-line value, with an error that names it. */
export function parseJsonArg(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    return fail(
      `${what} is not valid JSON: ${JSON.stringify(text)} (${(err as Error).message})`,
      `Write each value as JSON: strings in double quotes inside single quotes ('"hello"'); numbers, true/false, null, [..] and {..} as-is`,
    );
  }
}

export function parseIntOption(text: string, what: string, min = 0): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) fail(`${what} must be an integer ≥ ${min}, got ${JSON.stringify(text)}`);
  return n;
}

/** Milliseconds of a duration option ("12h", "7d"); at least `minMs`. */
export function durationOption(text: string, what: string, minMs = 0): number {
  let ms = 0;
  try {
    ms = parseDuration(text, what);
  } catch (err) {
    fail((err as NboxError).message, (err as NboxError).hint);
  }
  if (ms < minMs) fail(`${what} must be at least ${minMs / 1000} s, got ${JSON.stringify(text)}`);
  return ms;
}

export const debug = (): boolean => process.env.NBOX_DEBUG === "1" || process.env.NBOX_DEBUG === "true";

/** `error: <message>` + `hint: <hint>` on stderr; the stack only with NBOX_DEBUG=1. */
export function printError(err: unknown): void {
  let message: string;
  let hint: string | undefined;
  if (isNboxError(err)) {
    hint = err.hint;
    message = hint && err.message.endsWith(`. ${hint}`) ? err.message.slice(0, -(hint.length + 2)) : err.message;
  } else if (err instanceof Error) {
    // Coded errors (StoreError, system errors) read well alone; plain JS errors keep their class name.
    const coded = typeof (err as { code?: unknown }).code === "string";
    message = !coded && err.name && err.name !== "Error" && !err.message.startsWith(err.name) ? `${err.name}: ${err.message}` : err.message;
    const h = (err as { hint?: unknown }).hint;
    if (typeof h === "string" && h) hint = h;
  } else {
    message = String(err);
  }
  process.stderr.write(`error: ${message}\n`);
  if (hint) process.stderr.write(`hint: ${hint.replace(/\n/g, "\n  ")}\n`);
  if (debug() && err instanceof Error && err.stack) process.stderr.write(err.stack + "\n");
}

/**
 * Step progress on stderr: an ora spinner on a terminal, plain `· step` lines otherwise,
 * nothing when quiet (e.g. `--json`).
 */
export class Progress {
  private spinner: Ora | undefined;
  private current: string | undefined;
  private readonly tty: boolean;

  /** ora is loaded only for a terminal: commands that print no spinner start faster. */
  static async create(quiet = false): Promise<Progress> {
    const tty = !!process.stderr.isTTY && !quiet;
    return new Progress(quiet, tty ? (await import("ora")).default : undefined);
  }

  private constructor(
    private readonly quiet: boolean,
    private readonly ora: typeof import("ora").default | undefined,
  ) {
    this.tty = ora !== undefined;
  }

  step(text: string): void {
    if (this.quiet) return;
    if (this.tty) {
      if (this.spinner && this.current) this.spinner.succeed(this.current);
      this.spinner = this.ora!({ text, stream: process.stderr }).start();
    } else {
      process.stderr.write(`· ${text}\n`);
    }
    this.current = text;
  }

  /** Replace the text of the running step (e.g. add a detail). */
  update(text: string): void {
    this.current = text;
    if (this.spinner) this.spinner.text = text;
  }

  done(text?: string): void {
    if (this.spinner) this.spinner.succeed(text ?? this.current);
    else if (text && !this.quiet) process.stderr.write(`✔ ${text}\n`);
    this.spinner = undefined;
  }

  failed(): void {
    if (this.spinner) this.spinner.fail(this.current);
    this.spinner = undefined;
  }
}

/** Seconds as the one unit that reads best: 42s, 5m, 3h, 2d. */
function roughly(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function ago(iso: string | null | undefined): string {
  if (!iso) return "-";
  return `${roughly(Math.round((Date.now() - Date.parse(iso)) / 1000))} ago`;
}

/** A time from now on ("in 42s"), or one already past ("5m ago"). */
export function fromNow(iso: string | null | undefined): string {
  if (!iso) return "-";
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  // Within half a second either way (a tick that just fired read "in 0s").
  if (s === 0) return "now";
  return s < 0 ? `${roughly(-s)} ago` : `in ${roughly(s)}`;
}

export function duration(from: string | null | undefined, to: string | null | undefined): string {
  if (!from) return "-";
  const ms = (to ? Date.parse(to) : Date.now()) - Date.parse(from);
  return ms < 1000 ? `${ms}ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}
