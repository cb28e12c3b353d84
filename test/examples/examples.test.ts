import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { promisify } from "node:util";
import { exampleDirs, linkAllExamples } from "./link-nbox.ts";

const run = promisify(execFile);

/** Run an example's main.ts the way its README says (node --import tsx main.ts, from its folder). */
async function runMain(name: string): Promise<{ stdout: string; stderr: string }> {
  const cwd = exampleDirs().find((d) => basename(d) === name);
  assert.ok(cwd, `examples/${name} exists`);
  return run(process.execPath, ["--import", "tsx", "main.ts"], { cwd, timeout: 60_000 });
}

describe("examples", () => {
  before(() => {
    linkAllExamples();
  });

  it("every example is a small project that depends on nbox and has a README line", () => {
    const names = exampleDirs().map((d) => basename(d));
    for (const want of ["foo", "bar", "my-operator"]) assert.ok(names.includes(want), `examples/${want}`);
    for (const dir of exampleDirs()) {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      assert.equal(pkg.name, `nbox-example-${basename(dir)}`);
      assert.equal(pkg.private, true);
      assert.equal(pkg.type, "module");
      assert.equal(pkg.dependencies?.nbox, "file:../..");
      for (const file of ["ops.ts", "main.ts"]) {
        assert.match(readFileSync(join(dir, file), "utf8"), /^\/\/ Example "[\w-]+".*npm install/, `${basename(dir)}/${file} starts with a README line`);
      }
    }
  });

  it("foo: a function operator, called and mapped (in-process and in 2 worker threads)", async () => {
    const { stdout } = await runMain("foo");
    assert.equal(
      stdout,
      ["foo() = 16", "foo(10) = 100", "foo.map([1, 2, 3, 4]) = [1,4,9,16]", "foo.map([5, 6, 7], { processes: 2 }) = [25,36,49]", ""].join("\n"),
    );
  });

  it("bar: a wrapped class still builds plain local objects (unknown names answered by its Proxy)", async () => {
    const { stdout } = await runMain("bar");
    assert.equal(stdout, ["bar.getvalue() = 2", "bar.x = 2", "bar.jj_guverner = echo:jj_guverner", "new Bar(5) after 2 inc() = 7", "bar instanceof Bar = true", ""].join("\n"));
  });

  it("my-operator: nested child + Shell step, traced", async () => {
    const { stdout } = await runMain("my-operator");
    const lines = stdout.trimEnd().split("\n");
    assert.deepEqual(lines.slice(0, 4), ["MyOperator(", "  (b): Doubler()", "  (echo): Shell()", ")"]);
    // The Shell step's output streams before the result is printed: (1 + 2) * 3 + 2 = 11.
    assert.deepEqual(lines.slice(4, 6), ["step 3", "job(2) = 11"]);
    assert.deepEqual(lines.slice(6, 9).sort(), ["span MyOperator (MyOperator) ok", "span b (Doubler) ok", "span echo (Shell) ok"]);
    assert.equal(lines[9], `dag edges = ["MyOperator->echo","MyOperator->b"]`);
    // map runs calls concurrently, so the three echo lines may come in any order.
    assert.deepEqual(lines.slice(10, 13).sort(), ["step 1", "step 2", "step 3"]);
    assert.equal(lines[13], "job.map([0, 1, 2]) = [3,7,11]");
    // In worker threads: (1 + 3) * 3 + 3 = 15, (1 + 4) * 3 + 4 = 19; the workers' echo output is
    // forwarded through the pool, so only its presence is checked, not its position.
    assert.ok(lines.includes("job.map([3, 4], { processes: 2 }) = [15,19]"), stdout);
    assert.deepEqual(lines.slice(14).filter((l) => l.startsWith("step")).sort(), ["step 4", "step 5"]);
  });
});
