// A serving's start-up config (init arguments, recorded signature and schemas) can be far larger
// than one environment string may be on Linux (128 KiB): it reaches the child whole, and the
// child's environment does not carry it.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { importProject, startTestPlatform, wsName, type TestPlatform } from "./_helpers.ts";

const FILES: Record<string, string> = {
  "package.json": JSON.stringify({ name: "serving-big-config", private: true, type: "module" }),
  "ops.ts": `import { operator } from "nbox";

@operator()
export class Big {
  constructor(private readonly text: string) {}
  size(): number {
    return this.text.length;
  }
  tail(): string {
    return this.text.slice(-5);
  }
  leftovers(): string[] {
    return Object.keys(process.env).filter((k) => k.startsWith("NBOX_SERVING"));
  }
}
`,
};

describe("serving e2e: a start-up config above the env-string limit", () => {
  let tp: TestPlatform;
  let big: any;
  const text = "x".repeat(300 * 1024) + "tail!"; // > 200 KiB of init, beyond one env string's 128 KiB
  before(async () => {
    tp = await startTestPlatform();
    const { mod } = await importProject(FILES);
    big = await mod.Big.deploy(wsName("bigcfg"), { init: [text] });
  });
  after(async () => {
    await tp?.close();
  });

  it("starts and serves with its whole init argument", async () => {
    assert.equal(await big.size(), text.length);
    assert.equal(await big.tail(), "tail!");
  });

  it("the config is not left in the child's environment", async () => {
    assert.deepEqual(await big.leftovers(), []);
  });
});
