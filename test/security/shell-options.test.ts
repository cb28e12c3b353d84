// Option injection through Shell values: a value starting with "-" is read by the program as an
// option. `sort {file}` given `--output=<victim>` would truncate the victim file (sort reads the
// empty stdin and writes it there). Shell refuses such a value, and `--` in the template makes
// the program take it as a file name.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isNboxError } from "../../src/errors.ts";
import { Shell, ShellError } from "../../src/lib/index.ts";

describe("security: Shell values cannot inject options", () => {
  let dir: string;
  let victim: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "nbox-shell-opt-"));
    victim = join(dir, "victim.txt");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("refuses `sort {file}` with file = --output=<victim>, and the victim keeps its content", async () => {
    writeFileSync(victim, "precious\n");
    const sort = new Shell("sort {file}", { cwd: dir, stream: false });
    await assert.rejects(sort({ file: `--output=${victim}` }), (err) => {
      assert.ok(isNboxError(err), String(err));
      assert.equal(err.code, "BAD_ARGS");
      assert.match(err.message, /\{file\} starts with "-", so sort would read it as an option/);
      assert.match(err.message, /Put "--" before it/);
      return true;
    });
    assert.equal(readFileSync(victim, "utf8"), "precious\n");
  });

  it("with `sort -- {file}` the same value is a file name, and the victim keeps its content", async () => {
    writeFileSync(victim, "precious\n");
    const sort = new Shell("sort -- {file}", { cwd: dir, stream: false });
    assert.deepEqual(sort.argv({ file: `--output=${victim}` }), ["sort", "--", `--output=${victim}`]);
    await assert.rejects(sort({ file: `--output=${victim}` }), (err) => {
      assert.ok(err instanceof ShellError, String(err));
      assert.match(err.stderrTail, /No such file or directory/, "sort looked for a file of that name");
      return true;
    });
    assert.equal(readFileSync(victim, "utf8"), "precious\n");
  });

  it("`ls -- {path}` lists a file whose name starts with -", async () => {
    writeFileSync(join(dir, "-l"), "");
    const r = await new Shell("ls -- {path}", { cwd: dir, stream: false })({ path: "-l" });
    assert.equal(r.stdout, "-l\n");
  });

  it("`echo {x}` with x = -n is refused instead of dropping the newline", async () => {
    await assert.rejects(new Shell("echo {x}", { stream: false })({ x: "-n" }), /starts with "-"/);
    // Opting in is explicit: the value is then an option, as the template's author asked.
    const r = await new Shell("echo {x} hi", { stream: false, allowOptions: ["x"] })({ x: "-n" });
    assert.equal(r.stdout, "hi");
  });
});
