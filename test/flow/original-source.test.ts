// Flow reads forward from the user's own file: under tsx the running code is compiled and collapsed
// onto one line, but labels and lines must be the ones the user wrote.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { formatFlow } from "../../src/flow/index.ts";

const NBOX = pathToFileURL(resolve(fileURLToPath(import.meta.url), "../../../src/index.ts")).href;

const CHILD = `import { Operator } from ${JSON.stringify(NBOX)};

export class Scale extends Operator {
  constructor(private k: number = 2) {
    super();
  }

  forward(x: number): number {
    // the same body as Twice.forward below, on purpose
    return x * 2;
  }
}
`;

const OPS = `import { Operator, operator } from ${JSON.stringify(NBOX)};
import { Scale } from "./child.ts";

interface Options { limit: number }

export class Twice extends Operator {
  forward(x: number): number {
    // the same body as Scale.forward
    return x * 2;
  }
}

export class Pipeline extends Operator {
  scale = new Scale(3);
  twice = new Twice();
  opts: Options = { limit: 10 };

  async forward(x: number): Promise<number> {
    const start: number = x + 1;

    if (start > this.opts.limit) {
      return start as number;
    }
    const y = await this.scale(start);
    return this.twice(y);
  }
}

export const square = operator(function square(i: number = 4): number {
  const sq: number = i * i;
  return sq;
});
`;

async function project(): Promise<{ dir: string; mod: any }> {
  const dir = mkdtempSync(join(tmpdir(), "nbx-flow-src-"));
  writeFileSync(join(dir, "child.ts"), CHILD);
  writeFileSync(join(dir, "ops.ts"), OPS);
  return { dir, mod: await import(pathToFileURL(join(dir, "ops.ts")).href) };
}

test("an Operator's flow shows the user's own code and its lines in the file", async (t) => {
  const { dir, mod } = await project();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const flow = new mod.Pipeline().getFlow();
  assert.deepEqual(flow.warnings, []);
  const root = flow.nodes.filter((n: any) => n.owner === "" && n.parent === undefined);
  assert.deepEqual(
    root.map((n: any) => [n.kind, n.label, n.loc.line]),
    [
      ["code", "const start: number = x + 1", 19],
      ["branch", "if (start > this.opts.limit)", 21],
      ["call", "this.scale(start)", 24],
      ["call", "this.twice(y)", 25],
      ["return", "return this.twice(y)", 25],
    ],
  );
  assert.ok(root.every((n: any) => n.loc.file === join(dir, "ops.ts")));
  const arm = flow.nodes.find((n: any) => n.parent === root[1].id);
  assert.deepEqual([arm.label, arm.loc.line], ["return start as number", 22]);
  // Identical bodies in two files: each child is read from its own class.
  const scale = flow.nodes.find((n: any) => n.owner === "scale");
  assert.deepEqual([scale.label, scale.loc.line, scale.loc.file], ["return x * 2", 10, join(dir, "child.ts")]);
  const twice = flow.nodes.find((n: any) => n.owner === "twice");
  assert.deepEqual([twice.label, twice.loc.line, twice.loc.file], ["return x * 2", 9, join(dir, "ops.ts")]);
  const text = formatFlow(flow);
  assert.match(text, /code const start: number = x \+ 1 {2}\(line 19\)/);
  assert.match(text, /return x \* 2 {2}\(child\.ts:10\)/);
});

test("a wrapped function's flow is read from the file too", async (t) => {
  const { dir, mod } = await project();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const flow = mod.square.getFlow();
  assert.deepEqual(
    flow.nodes.map((n: any) => [n.label, n.loc.line]),
    [
      ["const sq: number = i * i", 30],
      ["return sq", 31],
    ],
  );
});

test("when the file changed since it was loaded, flow falls back to the running code", async (t) => {
  const { dir, mod } = await project();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "ops.ts"), "// rewritten: Pipeline is gone\nexport {};\n");
  rmSync(join(dir, "child.ts"));
  const flow = new mod.Pipeline().getFlow();
  assert.deepEqual(flow.warnings, []);
  const labels = flow.nodes.filter((n: any) => n.owner === "").map((n: any) => n.label);
  // The running code: tsx has stripped the types.
  assert.ok(labels.some((l: string) => /^const start\s*=\s*x\s*\+\s*1$/.test(l)), labels.join(" | "));
  assert.ok(flow.nodes.every((n: any) => n.loc.file === undefined));
});
