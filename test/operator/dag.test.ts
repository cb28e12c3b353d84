import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Operator } from "../../src/index.ts";
import { Doubler, MyOperator, Parallel } from "./fixtures/ops.ts";

class Leaf extends Operator {
  async forward(x: number) {
    await new Promise((r) => setTimeout(r, 1));
    return x + 1;
  }
}
class Mid extends Operator {
  inner = new Leaf();
  async forward(x: number) {
    return this.inner(x);
  }
}
class Looper extends Operator {
  child = new Doubler();
  mid = new Mid();
  unused = new Leaf();
  async forward(x: number) {
    let acc = x;
    for (let i = 0; i < 3; i++) acc = await this.child(acc);
    await Promise.all([this.mid(1), this.mid(2)]);
    return acc;
  }
}

const edgeCounts = (op: Operator) =>
  Object.fromEntries(op.getDag().edges.map((e) => [`${e.from}->${e.to}`, e.count]));

describe("getDag()", () => {
  it("nodes are the operators by dotted name (root by its own name), with their types", () => {
    const d = new Looper().getDag();
    assert.equal(d.root, "Looper");
    assert.deepEqual(d.nodes, [
      { name: "Looper", type: "Looper" },
      { name: "child", type: "Doubler" },
      { name: "mid", type: "Mid" },
      { name: "mid.inner", type: "Leaf" },
      { name: "unused", type: "Leaf" },
    ]);
    assert.deepEqual(d.edges, [], "no run yet");
  });

  it("edges are parent→child calls with counts and total time from the last run", async () => {
    const op = new Looper();
    assert.equal(await op(1), 8);
    const dag = op.getDag();
    assert.deepEqual(edgeCounts(op), { "Looper->child": 3, "Looper->mid": 2, "mid->mid.inner": 2 });
    for (const e of dag.edges) {
      assert.equal(typeof e.totalMs, "number");
      assert.ok(e.totalMs >= 0);
    }
    const mid = dag.edges.find((e) => e.to === "mid")!;
    const inner = dag.edges.find((e) => e.to === "mid.inner")!;
    assert.ok(mid.totalMs >= inner.totalMs, "a parent's time includes its children's");
    assert.ok(!dag.edges.some((e) => e.to === "unused"), "uncalled children have no edge");
  });

  it("shows the last run only (not cumulative)", async () => {
    const op = new Looper();
    await op(1);
    await op(1);
    assert.equal(edgeCounts(op)["Looper->child"], 3);
  });

  it("MyOperator and Parallel: edges to b, left/right and layers.N", async () => {
    const m = new MyOperator(1, 3);
    await m(2);
    assert.deepEqual(edgeCounts(m), { "MyOperator->b": 1 });
    const p = new Parallel();
    await p(1);
    assert.deepEqual(edgeCounts(p), { "Parallel->left": 1, "Parallel->right": 1, "Parallel->layers.0": 1, "Parallel->layers.1": 1 });
  });

  it("a failing child call still records its edge", async () => {
    class Fails extends Operator {
      forward(): number {
        throw new Error("x");
      }
    }
    class Root extends Operator {
      f = new Fails();
      async forward() {
        try {
          await this.f();
        } catch {
          return "caught";
        }
        return "no";
      }
    }
    const r = new Root();
    assert.equal(await r(), "caught");
    assert.deepEqual(edgeCounts(r), { "Root->f": 1 });
  });

  it("a child called from outside its parent records its own DAG, not the parent's", async () => {
    const m = new Mid();
    await m.inner(1);
    assert.deepEqual(m.getDag().edges, []);
  });
});
