// A Shell template is split into argv *before* any value is substituted, so a value is always
// exactly one argument (or part of one) and is never seen by a shell: no quoting, no injection.
import { NboxError } from "../errors.ts";

/** One piece of one argv element: literal text or a `{name}` placeholder. */
export type TemplatePart = string | { name: string };
/** One argv element as a sequence of parts, e.g. `--out={dir}/x` → ["--out=", {name:"dir"}, "/x"]. */
export type ArgTemplate = TemplatePart[];

/** Values a placeholder accepts; each is turned into text with `String()`. */
export type ShellValue = string | number | bigint | boolean;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;
const WHITESPACE = new Set([" ", "\t", "\n", "\r"]);
// Inside double quotes a backslash escapes only these (as in POSIX sh, plus the braces).
const DQ_ESCAPABLE = new Set(['"', "\\", "$", "`", "{", "}"]);

function fail(template: string, at: number, why: string): never {
  throw new SyntaxError(`Shell template ${JSON.stringify(template)}: ${why} at column ${at + 1}`);
}

/**
 * Split `template` into argv elements the way a POSIX shell splits words, without expanding
 * anything: whitespace separates arguments, `'…'` is literal, `"…"` allows `\"` `\\` escapes,
 * a backslash outside quotes escapes the next character. In every context `{name}` is a
 * placeholder and `{{` / `}}` are literal braces; any other `{` is literal text (`awk '{print}'`).
 */
export function parseTemplate(template: string): ArgTemplate[] {
  const args: ArgTemplate[] = [];
  let current: ArgTemplate | null = null;
  let text = "";
  let quote: "'" | '"' | null = null;
  let quoteAt = 0;
  const word = (): ArgTemplate => (current ??= []);
  const flushText = () => {
    if (text) word().push(text);
    text = "";
  };
  const endWord = () => {
    flushText();
    if (current) args.push(current);
    current = null;
  };

  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c === "{" || c === "}") {
      word();
      if (template[i + 1] === c) {
        text += c;
        i++;
        continue;
      }
      const m = c === "{" ? NAME.exec(template.slice(i + 1)) : null;
      if (m && template[i + 1 + m[0].length] === "}") {
        flushText();
        word().push({ name: m[0] });
        i += m[0].length + 1;
        continue;
      }
      text += c;
      continue;
    }
    if (quote === "'") {
      if (c === "'") quote = null;
      else text += c;
      continue;
    }
    if (c === "\\") {
      const next = template[i + 1];
      if (next === undefined) fail(template, i, "trailing backslash");
      i++;
      if (next === "\n") continue; // line continuation
      if (quote === '"' && !DQ_ESCAPABLE.has(next)) text += "\\";
      word();
      text += next;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = null;
      else text += c;
      continue;
    }
    if (c === "'" || c === '"') {
      word(); // `''` is an (empty) argument of its own
      quote = c;
      quoteAt = i;
      continue;
    }
    if (WHITESPACE.has(c)) {
      endWord();
      continue;
    }
    word();
    text += c;
  }
  if (quote) fail(template, quoteAt, `unterminated ${quote} quote`);
  endWord();
  if (args.length === 0) throw new SyntaxError(`Shell template ${JSON.stringify(template)} has no command`);
  return args;
}

/** Placeholder names in order of first appearance. */
export function placeholderNames(args: ArgTemplate[]): string[] {
  const names = new Set<string>();
  for (const arg of args) for (const part of arg) if (typeof part !== "string") names.add(part.name);
  return [...names];
}

const list = (names: string[]) => (names.length ? names.map((n) => `{${n}}`).join(", ") : "(none)");

function asText(name: string, value: unknown): string {
  const t = typeof value;
  if (t !== "string" && t !== "number" && t !== "bigint" && t !== "boolean") {
    const got = value === null ? "null" : Array.isArray(value) ? "an array" : `a ${t}`;
    throw new TypeError(`Shell: {${name}} must be a string, number, bigint or boolean, got ${got}`);
  }
  const text = String(value);
  if (text.includes("\0")) throw new TypeError(`Shell: {${name}} contains a NUL byte, which no command-line argument can hold`);
  return text;
}

/** Index of the template's first literal `--` argument (where the program stops reading options), or args.length. */
function optionsEnd(args: ArgTemplate[]): number {
  const i = args.findIndex((arg) => arg.length === 1 && arg[0] === "--");
  return i < 0 ? args.length : i;
}

/** A number is data even when negative: it can only spell digits, never an option word. */
const isNumber = (v: unknown) => typeof v === "bigint" || (typeof v === "number" && Number.isFinite(v));

/**
 * Refuse a value that would begin an argument with "-" before the template's `--`: the program
 * would read it as an option (`echo {x}` with x = "-n"). Placeholders listed in `allowOptions`
 * are meant to carry options and pass. Only the value's first character decides, so a value
 * inside a word (`--out={x}`, `./{x}`) never triggers it.
 */
function refuseOptionValues(args: ArgTemplate[], given: Record<string, unknown>, allowOptions: ReadonlySet<string>, label: string): void {
  const end = optionsEnd(args);
  for (let i = 1; i < end; i++) {
    // The part that supplies the argument's first character (placeholders given "" supply none).
    const lead = args[i]!.find((part) => (typeof part === "string" ? part : String(given[part.name])) !== "");
    if (lead === undefined || typeof lead === "string" || allowOptions.has(lead.name)) continue;
    const value = given[lead.name];
    if (isNumber(value) || !String(value).startsWith("-")) continue;
    const program = args[0]!.every((p) => typeof p === "string") ? args[0]!.join("") : "the program";
    throw new NboxError(
      "BAD_ARGS",
      `Shell ${label}: the value of {${lead.name}} starts with "-", so ${program} would read it as an option`,
      `Put "--" before it in the template to end options (e.g. "ls -- {${lead.name}}"), join it to its option ("--name={${lead.name}}"), ` +
        `or, if it is meant to be an option, allow it: new Shell(template, { allowOptions: ["${lead.name}"] })`,
    );
  }
}

/**
 * Fill the placeholders of `args` from `values`: every placeholder needs a value and every key
 * must be a placeholder. Each value lands inside its own argv element, whatever characters it has.
 * A string value that would start an argument with "-" before the template's `--` is refused
 * unless its placeholder is in `allowOptions` (see refuseOptionValues).
 */
export function substitute(args: ArgTemplate[], values: unknown, label: string, allowOptions: ReadonlySet<string> = new Set()): string[] {
  if (values !== undefined && (values === null || typeof values !== "object" || Array.isArray(values))) {
    throw new TypeError(`Shell ${label}: call it with an object of placeholder values, e.g. sh({ name: "x" }); got ${Array.isArray(values) ? "an array" : String(values)}`);
  }
  const given = (values ?? {}) as Record<string, unknown>;
  const names = placeholderNames(args);
  const givenKeys = Object.keys(given).filter((k) => given[k] !== undefined);
  const missing = names.filter((n) => given[n] === undefined);
  const unknown = givenKeys.filter((k) => !names.includes(k));
  const problems: string[] = [];
  if (missing.length) problems.push(`missing value for ${list(missing)}`);
  if (unknown.length) problems.push(`unknown key${unknown.length > 1 ? "s" : ""} ${list(unknown)}`);
  if (problems.length) {
    throw new TypeError(`Shell ${label}: ${problems.join("; ")} (given: ${list(givenKeys)}; placeholders: ${list(names)})`);
  }
  const argv = args.map((arg) => arg.map((part) => (typeof part === "string" ? part : asText(part.name, given[part.name]))).join(""));
  refuseOptionValues(args, given, allowOptions, label);
  return argv;
}
