import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { Operator, getTracer } from "../../src/index.ts";
import { isNboxError } from "../../src/errors.ts";
import { fromWire, toWire } from "../../src/codec/index.ts";
import { Shell, ShellError } from "../../src/lib/index.ts";
import { parseTemplate } from "../../src/lib/shell-template.ts";

const STREAM_FIXTURE = fileURLToPath(new URL("./fixtures/stream-shell.ts", import.meta.url));

/** Quiet by default: these tests check the collected output; one test below checks streaming. */
const quiet = (template: string, opts: ConstructorParameters<typeof Shell>[1] = {}) => new Shell(template, { stream: false, ...opts });

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof Error, `expected an Error, got ${String(err)}`);
    return err;
  }
  assert.fail("expected a rejection");
}

describe("Shell template", () => {
  it("splits words and keeps quoted text together", () => {
    assert.deepEqual(new Shell(`a  'b c'  "d e"\tf\\ g`).argv(), ["a", "b c", "d e", "f g"]);
  });

  it("joins adjacent quoted and unquoted pieces into one word, and keeps empty quoted words", () => {
    assert.deepEqual(new Shell(`x"y"'z' '' ""`).argv(), ["xyz", "", ""]);
  });

  it("handles backslash escapes: outside quotes any char, in double quotes only the special ones", () => {
    assert.deepEqual(new Shell(`echo \\' \\" "a\\"b" "c\\d" 'e\\f' \\\\`).argv(), ["echo", "'", '"', 'a"b', "c\\d", "e\\f", "\\"]);
  });

  it("treats a backslash-newline as a line continuation", () => {
    assert.deepEqual(new Shell("echo a \\\n  b").argv(), ["echo", "a", "b"]);
  });

  it("finds whole-word and partial placeholders, in every quoting context", () => {
    const sh = new Shell(`cp {src} --out={dir}/x "{dir} y" '{src}'`);
    assert.deepEqual(sh.placeholders, ["src", "dir"]);
    assert.deepEqual(sh.argv({ src: "S", dir: "D" }), ["cp", "S", "--out=D/x", "D y", "S"]);
    assert.deepEqual(parseTemplate("a{b}c"), [["a", { name: "b" }, "c"]]);
  });

  it("keeps {{ }} and non-identifier braces literal", () => {
    const sh = new Shell(`awk '{print $1}' {{x}} \\{y\\} {file}`);
    assert.deepEqual(sh.placeholders, ["file"]);
    assert.deepEqual(sh.argv({ file: "f" }), ["awk", "{print $1}", "{x}", "{y}", "f"]);
  });

  it("rejects unterminated quotes, a trailing backslash and an empty template", () => {
    assert.throws(() => new Shell(`echo 'abc`), /unterminated ' quote at column 6/);
    assert.throws(() => new Shell(`echo "abc`), /unterminated " quote/);
    assert.throws(() => new Shell(`echo abc\\`), /trailing backslash/);
    assert.throws(() => new Shell("   "), /has no command/);
  });

  it("rejects a bad timeoutMs", () => {
    assert.throws(() => new Shell("true", { timeoutMs: 0 }), /timeoutMs.*positive/);
    assert.throws(() => new Shell("true", { timeoutMs: -5 }), /positive/);
  });
});

describe("Shell values", () => {
  it("keeps a hostile value as one literal argument (no shell involved)", async () => {
    const evil = `a b; echo pwned $(echo sub) \`echo tick\` 'q' "dq" | cat > /dev/null & $HOME`;
    const sh = quiet("printf %s {v}");
    assert.deepEqual(sh.argv({ v: evil }), ["printf", "%s", evil]);
    assert.equal((await sh({ v: evil })).stdout, evil);
  });

  it("substitutes inside a word without splitting it", async () => {
    const r = await quiet("printf [%s] --out={dir}/x")({ dir: "my dir; rm" });
    assert.equal(r.stdout, "[--out=my dir; rm/x]");
  });

  it("any string value comes back byte for byte through printf", async () => {
    const sh = quiet("printf -- %s {v}");
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "grapheme", maxLength: 40 }).filter((s) => !s.includes("\0")), async (v) => {
        assert.deepEqual(sh.argv({ v }), ["printf", "--", "%s", v]);
        assert.equal((await sh({ v })).stdout, v);
      }),
      { numRuns: 25 },
    );
  });

  it("a value never splits or globs, even beside files its pattern would match", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nbox-shell-"));
    try {
      for (const f of ["a", "b c", "-x", ".hidden"]) writeFileSync(join(dir, f), "");
      const sh = quiet("printf -- [%s] {v} {w}", { cwd: dir });
      const special = fc.constantFrom(..." \t\n*?[]{}~$`'\"\\;&|<>()!#=-.,/");
      const value = fc.array(fc.oneof(special, fc.constantFrom("a", "b", "x", "hidden")), { maxLength: 12 }).map((cs) => cs.join(""));
      await fc.assert(
        fc.asyncProperty(value, value, async (v, w) => {
          assert.deepEqual(sh.argv({ v, w }), ["printf", "--", "[%s]", v, w]);
          assert.equal((await sh({ v, w })).stdout, `[${v}][${w}]`);
        }),
        { numRuns: 40 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("passes a literal -- to the program as-is, unsplit and unquoted", () => {
    assert.deepEqual(new Shell("ls -- {path}").argv({ path: "-l" }), ["ls", "--", "-l"]);
    assert.deepEqual(new Shell(`ls -l '--' "--" {path}`).argv({ path: "x" }), ["ls", "-l", "--", "--", "x"]);
    assert.deepEqual(parseTemplate("ls -- {p}"), [["ls"], ["--"], [{ name: "p" }]]);
  });

  it("turns numbers, bigints and booleans into text", () => {
    assert.deepEqual(new Shell("x {a} {b} {c}").argv({ a: 1.5, b: 10n, c: false }), ["x", "1.5", "10", "false"]);
  });

  it("names missing placeholders and lists the given ones", async () => {
    const err = await rejection(quiet("echo {a} {b} {c}")({ a: "1" }));
    assert.ok(err instanceof TypeError);
    assert.match(err.message, /missing value for \{b\}, \{c\}/);
    assert.match(err.message, /given: \{a\}/);
    assert.match(err.message, /placeholders: \{a\}, \{b\}, \{c\}/);
  });

  it("treats no argument and undefined values as missing", async () => {
    assert.match((await rejection(quiet("echo {a}")())).message, /missing value for \{a\} \(given: \(none\);/);
    assert.match((await rejection(quiet("echo {a}")({ a: undefined as unknown as string }))).message, /missing value for \{a\}/);
  });

  it("rejects unknown keys", async () => {
    const err = await rejection(quiet("echo {a}")({ a: "1", extra: "2", more: 3 }));
    assert.match(err.message, /unknown keys \{extra\}, \{more\}/);
    assert.match((await rejection(quiet("echo hi")({ x: 1 }))).message, /unknown key \{x\}.*placeholders: \(none\)/);
  });

  it("rejects values that are not scalars, NUL bytes and a non-object argument", async () => {
    assert.match((await rejection(quiet("echo {a}")({ a: ["x"] as unknown as string }))).message, /\{a\} must be a string.*got an array/);
    assert.match((await rejection(quiet("echo {a}")({ a: null as unknown as string }))).message, /got null/);
    assert.match((await rejection(quiet("echo {a}")({ a: "x\0y" }))).message, /NUL byte/);
    assert.match((await rejection((quiet("echo {a}") as any)("x"))).message, /object of placeholder values/);
  });
});

describe("Shell values that look like options", () => {
  const refusal = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      assert.ok(isNboxError(err), `expected an NboxError, got ${String(err)}`);
      return err;
    }
    assert.fail("expected the value to be refused");
  };

  it("refuses a string value that would start an argument with - before the template's --", () => {
    const err = refusal(() => new Shell("echo {x}").argv({ x: "-n" }));
    assert.equal(err.code, "BAD_ARGS");
    assert.match(err.message, /Shell "echo \{x\}": the value of \{x\} starts with "-", so echo would read it as an option/);
    assert.match(err.message, /"ls -- \{x\}"/, "the message names the fix");
    assert.match(err.message, /allowOptions: \["x"\]/);
    assert.doesNotMatch(err.message, /"-n"/, "the value itself is not echoed (it may be a secret)");
    // Every position before the --, not only the first; values made of several pieces too.
    refusal(() => new Shell("cp {src} {dst}").argv({ src: "a", dst: "--target-directory=/x" }));
    refusal(() => new Shell("cp {a}{b} x").argv({ a: "", b: "-r" }));
    refusal(() => new Shell("cp '{a}' x").argv({ a: "-r" }));
    refusal(() => new Shell("head -n {n} -- f").argv({ n: -Infinity }));
  });

  it("passes values after --, inside a word, numbers, and placeholders listed in allowOptions", () => {
    assert.deepEqual(new Shell("ls -l -- {path} {more}").argv({ path: "-rf", more: "--x" }), ["ls", "-l", "--", "-rf", "--x"]);
    assert.deepEqual(new Shell("cmd --out={o} ./{p} x{q}").argv({ o: "-a", p: "-b", q: "-c" }), ["cmd", "--out=-a", "./-b", "x-c"]);
    assert.deepEqual(new Shell("seq {from} {to}").argv({ from: -3, to: -1n }), ["seq", "-3", "-1"]);
    assert.deepEqual(new Shell("git log {flag} -- {path}", { allowOptions: ["flag"] }).argv({ flag: "--oneline", path: "-p" }), ["git", "log", "--oneline", "--", "-p"]);
    assert.deepEqual(new Shell("{prog} x").argv({ prog: "-weird" }), ["-weird", "x"], "the program itself is not an option");
    assert.deepEqual(new Shell("cmd {a} b").argv({ a: "" }), ["cmd", "", "b"]);
  });

  it("allowOptions must name placeholders of the template", () => {
    assert.throws(() => new Shell("ls {path}", { allowOptions: ["flag"] }), /\{flag\} is not a placeholder of the template \(placeholders: \{path\}\)/);
    assert.throws(() => new Shell("ls {path}", { allowOptions: "path" as unknown as string[] }), /array of placeholder names/);
  });

  it("a refused value fails the call before anything runs", async () => {
    const err = await rejection(quiet("echo {x}")({ x: "-n" }));
    assert.ok(isNboxError(err) && err.code === "BAD_ARGS");
  });

  it("values starting with - reach the program as operands after --", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 20 }).filter((s) => !s.includes("\0")), async (rest) => {
        const v = `-${rest}`;
        assert.throws(() => quiet("printf %s {v}").argv({ v }), /starts with "-"/);
        assert.equal((await quiet("printf -- %s {v}")({ v })).stdout, v);
      }),
      { numRuns: 20 },
    );
  });
});

describe("Shell run", () => {
  it("returns { code, stdout, stderr }", async () => {
    const r = await quiet(`sh -c 'echo out; echo err >&2'`)();
    assert.deepEqual(r, { code: 0, stdout: "out\n", stderr: "err\n" });
  });

  it("throws a ShellError with the exit code and the output tails on a non-zero exit", async () => {
    const err = await rejection(quiet(`sh -c 'echo partial; echo boom >&2; exit 3'`)());
    assert.ok(err instanceof ShellError);
    assert.equal(err.name, "ShellError");
    assert.equal(err.code, 3);
    assert.equal(err.signal, null);
    assert.equal(err.timedOut, false);
    assert.equal(err.command, "sh");
    assert.equal(err.stdoutTail, "partial\n");
    assert.equal(err.stderrTail, "boom\n");
    assert.match(err.message, /"sh" exited with code 3/);
    assert.match(err.message, /--- stderr ---\nboom/);
    assert.match(err.message, /--- stdout ---\npartial/);
  });

  it("keeps only the last ~2 KB of long output", async () => {
    const err = await rejection(quiet(`sh -c 'i=0; while [ $i -lt 500 ]; do echo "line $i of the log"; i=$((i+1)); done >&2; exit 1'`)());
    assert.ok(err instanceof ShellError);
    assert.ok(err.stderrTail.length <= 2049, `tail is ${err.stderrTail.length} chars`);
    assert.ok(err.stderrTail.startsWith("…"));
    assert.match(err.stderrTail, /line 499 of the log\n$/);
    assert.doesNotMatch(err.stderrTail, /line 0 of/);
    assert.match(err.message, /stderr \(last 2 KB\)/);
  });

  it("reports a command killed by a signal", async () => {
    const err = await rejection(quiet(`sh -c 'kill -TERM $$'`)());
    assert.ok(err instanceof ShellError);
    assert.equal(err.code, null);
    assert.equal(err.signal, "SIGTERM");
    assert.match(err.message, /killed by SIGTERM/);
  });

  it("kills a command that runs past timeoutMs", async () => {
    const err = await rejection(quiet("sleep 30", { timeoutMs: 100 })());
    assert.ok(err instanceof ShellError);
    assert.equal(err.timedOut, true);
    assert.match(err.message, /"sleep" timed out after 100 ms and was killed/);
  });

  it("settles a timeout even when a grandchild keeps the output pipes open", async () => {
    // sh forks sleep (not the last command), so killing sh leaves sleep holding stdout.
    const err = await rejection(quiet(`sh -c 'echo started; sleep 30; echo never'`, { timeoutMs: 300 })());
    assert.ok(err instanceof ShellError && err.timedOut);
    assert.equal(err.stdoutTail, "started\n");
  });

  it("names a command that does not exist", async () => {
    const err = await rejection(quiet("no-such-command-nbox {x}")({ x: "1" }));
    assert.doesNotMatch(err.message, /ShellError/);
    assert.match(err.message, /command not found: "no-such-command-nbox"/);
  });

  it("says so when cwd does not exist", async () => {
    const err = await rejection(quiet("pwd", { cwd: "/definitely/not/here" })());
    assert.match(err.message, /working directory "\/definitely\/not\/here" does not exist/);
  });

  it("runs in cwd with env merged over process.env", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nbox-shell-"));
    try {
      assert.equal((await quiet("pwd", { cwd: dir })()).stdout.trim(), realpathSync(dir));
      const r = await quiet(`sh -c 'echo "$NBOX_T_FOO:$HOME"'`, { env: { NBOX_T_FOO: "bar" } })();
      assert.equal(r.stdout, `bar:${process.env.HOME}\n`);
      const unset = await quiet(`sh -c 'echo "[$HOME]"'`, { env: { HOME: undefined } })();
      assert.equal(unset.stdout, "[]\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("streams output line by line while the command runs, and also collects it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nbox-shell-"));
    const gate = join(dir, "gate");
    try {
      const child = spawn(process.execPath, ["--import", "tsx", STREAM_FIXTURE, gate], { stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (c: string) => {
        stdout += c;
        // The command blocks until the gate exists: seeing "early" first proves it was streamed.
        if (stdout.includes("early\n")) writeFileSync(gate, "");
      });
      child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
      const code = await new Promise<number | null>((r) => child.on("close", r));
      assert.equal(code, 0, stderr);
      const [streamed, result] = stdout.split("RESULT ");
      assert.equal(streamed, "early\nlate\ntail\n"); // the unterminated last line is flushed with a newline
      assert.deepEqual(JSON.parse(result!), { code: 0, stdout: "early\nlate\ntail", stderr: "warn\n" });
      assert.match(stderr, /^warn\n/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Shell as an operator", () => {
  it("is a traced child operator of its parent", async () => {
    class Step extends Operator {
      echo = quiet("echo step {y}");
      async forward(y: number) {
        return (await this.echo({ y })).stdout.trim();
      }
    }
    const step = new Step();
    assert.deepEqual([...step.namedOperators()].map(([n]) => n), ["", "echo"]);
    assert.equal(await step(7), "step 7");
    const span = getTracer().memory.spans().findLast((s) => s.op === "echo");
    assert.ok(span, "a span for the Shell child");
    assert.equal(span.name, "Shell");
    assert.equal(span.attributes.command, "echo");
    assert.equal(span.attributes.exitCode, 0);
  });

  it("a ShellError crosses the wire codec with its fields", async () => {
    const err = await rejection(quiet(`sh -c 'echo nope >&2; exit 2'`)());
    const back = fromWire(toWire(err)) as ShellError;
    assert.equal(back.name, "ShellError");
    assert.equal(back.code, 2);
    assert.equal(back.stderrTail, "nope\n");
    assert.match(back.message, /exited with code 2/);
  });
});

it("in an operator's flow a Shell step is one call node, its internals are not analysed", () => {
  class Step extends Operator {
    sh = new Shell("echo {x}");
    async forward(x: string) {
      await this.sh({ x });
      return x;
    }
  }
  const flow = new Step().getFlow();
  assert.ok(flow.nodes.some((n) => n.kind === "call" && n.op === "sh"));
  assert.ok(!flow.nodes.some((n) => n.owner === "sh"));
});
