import { test } from "node:test";
import assert from "node:assert/strict";
import { buildFlow, formatFlow, type Flow, type FlowNode, type FlowSubject } from "../../src/flow/index.ts";

// Stand-ins for operators: any object with a forward, children listed in a Map.
class Op {
  children = new Map<string, FlowSubject>();
  add<T extends FlowSubject>(name: string, child: T): T {
    this.children.set(name, child);
    return child;
  }
}
const childrenOf = (o: FlowSubject): Array<[string, FlowSubject]> => (o instanceof Op ? [...o.children] : []);
const flowOf = (root: FlowSubject, name = "Root"): Flow => buildFlow(root, { name, childrenOf });

/** An operator whose forward "source" is exactly `text` (forward.toString overridden). */
function fromSource(text: string, children: Record<string, FlowSubject> = {}): Op {
  const op = new Op();
  for (const [k, v] of Object.entries(children)) op.add(k, v);
  const forward = function () {};
  forward.toString = () => text;
  (op as Op & { forward: unknown }).forward = forward;
  return op;
}

class Leaf extends Op {
  forward(x: number): number {
    return x + 1;
  }
}

const top = (f: Flow, owner = "") => f.nodes.filter((n) => n.owner === owner && (owner === "" ? n.parent === undefined : true));
const kinds = (ns: FlowNode[]) => ns.map((n) => n.kind);
const ops = (f: Flow) => f.nodes.filter((n) => n.kind === "call").map((n) => n.op);
const edge = (f: Flow, from: string, to: string, kind: string) => f.edges.some((e) => e.from === from && e.to === to && e.kind === kind);
const byLabel = (f: Flow, label: string) => {
  const n = f.nodes.find((x) => x.label === label);
  assert.ok(n, `no node labelled ${label}; have ${f.nodes.map((x) => x.label).join(" | ")}`);
  return n;
};

test("sequence of calls, linked by next edges", () => {
  class Seq extends Op {
    a = this.add("a", new Leaf());
    b = this.add("b", new Leaf());
    helper(x: number) {
      return x;
    }
    async forward(x: number): Promise<number> {
      const y = await (this.a as any)(x);
      const h = this.helper(y);
      const z = await (this.b as any).forward(h);
      return z;
    }
  }
  const f = flowOf(new Seq(), "Seq");
  assert.equal(f.root, "Seq");
  assert.deepEqual(f.warnings, []);
  const t = top(f);
  assert.deepEqual(kinds(t), ["call", "code", "call", "return"]);
  assert.deepEqual([t[0]!.op, t[2]!.op], ["a", "b"]);
  for (let i = 0; i + 1 < t.length; i++) assert.ok(edge(f, t[i]!.id, t[i + 1]!.id, "next"));
  // ids are creation order
  assert.deepEqual(f.nodes.map((n) => n.id), f.nodes.map((_, i) => `n${i}`));
  // children expanded under their call node
  const leafA = f.nodes.find((n) => n.owner === "a")!;
  assert.equal(leafA.kind, "return");
  assert.equal(leafA.parent, t[0]!.id);
  assert.ok(edge(f, t[0]!.id, leafA.id, "child"));
});

test("nested child expansion uses dotted names", () => {
  class Tok extends Op {
    forward(s: string) {
      return s.split(" ");
    }
  }
  class Enc extends Op {
    tok = this.add("tok", new Tok());
    forward(s: string) {
      const t = (this.tok as any)(s);
      return t;
    }
  }
  class Model extends Op {
    enc = this.add("enc", new Enc());
    async forward(s: string) {
      const e = await (this.enc as any)(s);
      await (this.enc as any).tok(s); // a grandchild called directly
      return e;
    }
  }
  const f = flowOf(new Model(), "Model");
  assert.deepEqual(f.warnings, []);
  assert.deepEqual(ops(f), ["enc", "enc.tok", "enc.tok"]);
  const encCall = f.nodes.find((n) => n.op === "enc")!;
  const tokCall = f.nodes.find((n) => n.op === "enc.tok" && n.owner === "enc")!;
  assert.equal(tokCall.parent, encCall.id);
  const tokBody = f.nodes.find((n) => n.owner === "enc.tok")!;
  assert.equal(tokBody.parent, tokCall.id);
  assert.ok(edge(f, tokCall.id, tokBody.id, "child"));
  // the root's direct call to the grandchild reuses that expansion
  const direct = f.nodes.find((n) => n.op === "enc.tok" && n.owner === "")!;
  assert.ok(edge(f, direct.id, tokBody.id, "child"));
  assert.equal(f.nodes.filter((n) => n.owner === "enc.tok").length, 1);
});

test("a shared child is expanded once; cycles terminate", () => {
  const shared = fromSource("forward(x) { const y = x * 2; return y; }");
  const root = fromSource("async forward(x) { await this.a(x); await this.b(x); return this.c(x); }", { a: shared, b: shared });
  root.add("c", root); // cycle: root is its own child
  const f = flowOf(root);
  assert.deepEqual(ops(f), ["a", "b", "c"]);
  const expanded = f.nodes.filter((n) => n.owner === "a" || n.owner === "b");
  assert.deepEqual(kinds(expanded), ["code", "return"]);
  assert.ok(expanded.every((n) => n.owner === "a"));
  const [ca, cb] = f.nodes.filter((n) => n.kind === "call");
  assert.ok(edge(f, ca!.id, expanded[0]!.id, "child"));
  assert.ok(edge(f, cb!.id, expanded[0]!.id, "child"), "second caller points at the existing expansion");
  assert.equal(f.nodes.filter((n) => n.parent === cb!.id).length, 0);
});

test("if / else, ternary statements and switch are branches with arms", () => {
  const root = fromSource(
    `async forward(x) {
  if (x > 0) {
    x = await this.a(x);
    log(x);
  } else {
    x = await this.b(x);
  }
  x > 5 ? this.a(x) : this.b(x);
  switch (x) {
    case 1:
    case 2:
      x = this.a(x);
      break;
    default:
      x = 0;
  }
  return x;
}`,
    { a: new Leaf(), b: new Leaf() },
  );
  const f = flowOf(root);
  assert.deepEqual(f.warnings, []);
  const t = top(f);
  assert.deepEqual(kinds(t), ["branch", "branch", "branch", "return"]);
  const [iff, tern, sw] = t;
  assert.equal(iff!.label, "if (x > 0)");
  assert.deepEqual(iff!.loc, { line: 2, column: 2 });
  const thenArm = f.nodes.filter((n) => n.parent === iff!.id);
  assert.deepEqual(kinds(thenArm), ["call", "code", "call"]);
  assert.ok(edge(f, iff!.id, thenArm[0]!.id, "then"));
  assert.ok(edge(f, thenArm[0]!.id, thenArm[1]!.id, "next"));
  assert.ok(edge(f, iff!.id, thenArm[2]!.id, "else"));
  assert.equal(thenArm[2]!.op, "b");
  assert.equal(thenArm[0]!.loc.line, 3);

  const ternArms = f.nodes.filter((n) => n.parent === tern!.id);
  assert.deepEqual(ternArms.map((n) => n.op), ["a", "b"]);
  assert.ok(edge(f, tern!.id, ternArms[0]!.id, "then"));
  assert.ok(edge(f, tern!.id, ternArms[1]!.id, "else"));

  assert.equal(sw!.label, "switch (x)");
  const cases = f.edges.filter((e) => e.from === sw!.id && e.kind !== "next");
  assert.deepEqual(cases.map((e) => [e.kind, e.label]), [["then", "case 1, case 2"], ["else", "default"]]);
  assert.ok(edge(f, sw!.id, t[3]!.id, "next"));
});

test("loops get a body edge and a loop-back edge", () => {
  const root = fromSource(
    `async forward(xs) {
  let acc = 0;
  for (const x of xs) {
    acc += await this.a(x);
    acc += 1;
  }
  while (acc > 10) acc = await this.b(acc);
  do { acc--; } while (await this.a(acc));
  for (let i = 0; i < 3; i++) {}
  return acc;
}`,
    { a: new Leaf(), b: new Leaf() },
  );
  const f = flowOf(root);
  const t = top(f);
  assert.deepEqual(kinds(t), ["code", "loop", "loop", "loop", "loop", "return"]);
  const [, forOf, wh, dw, empty] = t;
  assert.equal(forOf!.label, "for (const x of xs)");
  const body = f.nodes.filter((n) => n.parent === forOf!.id);
  assert.deepEqual(kinds(body), ["call", "code"]);
  assert.ok(edge(f, forOf!.id, body[0]!.id, "body"));
  assert.ok(edge(f, body[1]!.id, forOf!.id, "loop-back"));
  const whBody = f.nodes.filter((n) => n.parent === wh!.id);
  assert.deepEqual(whBody.map((n) => n.op), ["b"]);
  assert.ok(edge(f, whBody[0]!.id, wh!.id, "loop-back"));
  // do-while: the test's call runs after the body each pass
  const dwBody = f.nodes.filter((n) => n.parent === dw!.id);
  assert.deepEqual(kinds(dwBody), ["code", "call"]);
  assert.ok(edge(f, dwBody[1]!.id, dw!.id, "loop-back"));
  assert.equal(dw!.label, "do … while (await this.a(acc))");
  assert.equal(f.edges.filter((e) => e.from === empty!.id && e.kind === "body").length, 0);
});

test("Promise.all with two calls emits two call nodes in sequence", () => {
  class Par extends Op {
    a = this.add("a", new Leaf());
    b = this.add("b", new Leaf());
    async forward(x: number) {
      const [p, q] = await Promise.all([(this.a as any)(x), (this.b as any)(x)]);
      return p + q;
    }
  }
  const f = flowOf(new Par());
  const t = top(f);
  assert.deepEqual(kinds(t), ["call", "call", "return"]);
  assert.deepEqual([t[0]!.op, t[1]!.op], ["a", "b"]);
  assert.ok(edge(f, t[0]!.id, t[1]!.id, "next"));
  assert.ok(t[0]!.label.startsWith("this.a(x)"));
});

test("array children: layers.0, layers.* for dynamic access", () => {
  const l0 = fromSource("forward(x) { return x + 1; }");
  const l1 = fromSource("forward(x) { return x + 2; }");
  const root = fromSource(
    `async forward(x) {
  x = await this.layers[0](x);
  x = await this.layers[1].forward(x);
  x = await this["layers"]["0"](x);
  for (const l of this.layers) x = await l(x);
  for (let i = 0; i < this.layers.length; i++) x = await this.layers[i](x);
  await Promise.all(this.layers.map((l) => l(x)));
  return x;
}`,
    { "layers.0": l0, "layers.1": l1 },
  );
  const f = flowOf(root);
  assert.deepEqual(f.warnings, []);
  assert.deepEqual(ops(f), ["layers.0", "layers.1", "layers.0", "layers.*", "layers.*", "layers.*"]);
  assert.equal(f.nodes.filter((n) => n.owner === "layers.0").length, 1);
  assert.equal(f.nodes.filter((n) => n.owner === "layers.1").length, 1);
  // the dynamic call points at every element's expansion
  const dyn = f.nodes.find((n) => n.op === "layers.*")!;
  const targets = f.edges.filter((e) => e.from === dyn.id && e.kind === "child").map((e) => f.nodes.find((n) => n.id === e.to)!.owner);
  assert.deepEqual(targets, ["layers.0", "layers.1"]);
});

test("async, generator, arrow and function-expression forwards", () => {
  const a = new Leaf();
  const arrow = Object.assign(new Op(), { forward: async (x: number) => (a as any)(x) });
  arrow.add("a", a);
  // an arrow's `this` is lexical, so point its source at a child via an alias instead
  const f1 = flowOf(Object.assign(fromSource("async (x) => this.a(x)", { a }), {}));
  assert.deepEqual(kinds(top(f1)), ["call", "return"]);
  assert.equal(top(f1)[1]!.label, "return this.a(x)");
  const f1b = flowOf(arrow);
  assert.deepEqual(f1b.warnings, []);
  assert.deepEqual(kinds(f1b.nodes), ["return"]); // `a` is a closure variable, not this.a

  class Gen extends Op {
    a = this.add("a", new Leaf());
    *forward(x: number) {
      yield (this.a as any)(x);
      yield x;
    }
  }
  assert.deepEqual(kinds(top(flowOf(new Gen()))), ["call", "code"]);

  class AsyncGen extends Op {
    a = this.add("a", new Leaf());
    async *forward(x: number) {
      for await (const y of (this.a as any)(x)) yield y;
    }
  }
  const g = flowOf(new AsyncGen());
  assert.deepEqual(g.warnings, []);
  assert.deepEqual(kinds(top(g)), ["call", "loop"]);

  const fnExpr = new Op();
  fnExpr.add("a", new Leaf());
  (fnExpr as Op & { forward: unknown }).forward = function (this: any, x: number) {
    return this.a(x);
  };
  assert.deepEqual(kinds(top(flowOf(fnExpr))), ["call", "return"]);

  class Priv extends Op {
    #scale = 2;
    a = this.add("a", new Leaf());
    forward(x: number) {
      return (this.a as any)(x * this.#scale);
    }
  }
  const p = flowOf(new Priv());
  assert.deepEqual(p.warnings, []);
  assert.deepEqual(kinds(top(p)), ["call", "return"]);
});

test("TypeScript-stripped source (tsx output: minified whitespace, __name helpers)", () => {
  const stripped =
    'async forward(x){let y=this.a+x;const fmt=/* @__PURE__ */__name(v=>`${v}`,"fmt");y=await this.b(y)+x;if(y>this.a){return this.c.forward(fmt(y))}return y}';
  const root = fromSource(stripped, { b: new Leaf(), c: new Leaf() });
  const f = flowOf(root);
  assert.deepEqual(f.warnings, []);
  const t = top(f);
  assert.deepEqual(kinds(t), ["code", "call", "branch", "return"]);
  assert.equal(t[0]!.label, 'let y=this.a+x; const fmt=/* @__PURE__ */__name(v=>`${v}`,"fmt")');
  assert.deepEqual(t[1]!.loc, { line: 1, column: 89 });
  assert.deepEqual(ops(f), ["b", "c"]);
});

test("native and bound forwards give a warning and an empty flow", () => {
  const native = flowOf({ forward: Math.max }, "Native");
  assert.deepEqual(native.nodes, []);
  assert.equal(native.warnings.length, 1);
  assert.match(native.warnings[0]!, /Native.*native or bound/);

  const bound = flowOf({ forward: function (x: number) { return x; }.bind(null) });
  assert.match(bound.warnings[0]!, /native or bound/);

  // a native child is a warning too, the rest of the flow survives
  const root = fromSource("forward(x) { this.a(x); return this.b(x); }", { a: { forward: Math.min }, b: new Leaf() });
  const f = flowOf(root);
  assert.deepEqual(ops(f), ["a", "b"]);
  assert.equal(f.warnings.length, 1);
  assert.match(f.warnings[0]!, /operator "a"/);
});

test("garbage source, throwing toString or no forward: warnings, never a throw", () => {
  const junk = flowOf(fromSource("this is ) not { javascript at all"), "Junk");
  assert.deepEqual(junk.nodes, []);
  assert.equal(junk.warnings.length, 1);
  assert.match(junk.warnings[0]!, /Junk.*cannot parse forward/);

  const thrower = { forward: Object.assign(() => 1, { toString: () => { throw new Error("nope"); } }) };
  assert.match(flowOf(thrower).warnings[0]!, /nope/);
  assert.match(flowOf({}).warnings[0]!, /no forward/);
  assert.match(flowOf(fromSource("class X {}")).warnings[0]!, /cannot parse|not a function/);

  const badChildren = buildFlow(fromSource("forward(x) { return this.a(x); }"), {
    name: "Bad",
    childrenOf: () => {
      throw new Error("tree broke");
    },
  });
  assert.deepEqual(kinds(badChildren.nodes), ["return"]);
  assert.match(badChildren.warnings.join("\n"), /tree broke/);
});

test("plain methods on this are code; labels are short", () => {
  const long = "x".repeat(200);
  const root = fromSource(`forward(x) { this.helper(x); this.b.notAnOp(x); const s = "${long}"; return s; }`, { b: new Leaf() });
  const f = flowOf(root);
  assert.deepEqual(kinds(f.nodes), ["code", "return"]);
  assert.ok(f.nodes.every((n) => n.label.length <= 80));
});

test("formatFlow prints an indented tree", () => {
  const b = fromSource("forward(x) {\n  return x * 2;\n}");
  const root = fromSource(
    `async forward(x) {
  let y = this.a + x;
  y = (await this.b(y)) + x;
  if (y > 0) {
    return y;
  } else {
    y = await this.b(-y);
  }
  for (const l of this.layers) y = await l(y);
  return y;
}`,
    { b, "layers.0": new Leaf() },
  );
  const text = formatFlow(flowOf(root, "MyOperator"));
  const lines = text.split("\n");
  assert.equal(lines[0], "MyOperator");
  assert.ok(lines.includes("  code let y = this.a + x  (line 2)"), text);
  assert.ok(lines.includes("  call b  (line 3)"), text);
  assert.ok(lines.includes("    return x * 2  (line 2)"), text);
  assert.ok(lines.includes("  branch if (y > 0)  (line 4)"), text);
  assert.ok(lines.includes("    then:"), text);
  assert.ok(lines.includes("      return y  (line 5)"), text);
  assert.ok(lines.includes("    else:"), text);
  assert.ok(lines.includes("      call b  (line 7)  (expanded above: b)"), text);
  assert.ok(lines.includes("  loop for (const l of this.layers)  (line 9)"), text);
  assert.ok(lines.includes("      call layers.*  (line 9)"), text);
  assert.ok(lines.includes("        layers.0:"), text);
  assert.ok(lines.includes("  return y  (line 10)"), text);

  const warned = formatFlow(flowOf({ forward: Math.max }, "Native"));
  assert.match(warned, /^Native\n {2}\(no nodes\)\nwarning: .*native or bound/);
});

test("expand: false keeps a child as one call node (library operators such as Shell)", () => {
  const leaf = { forward(x: number) { if (x) return x; return 0; } };
  const root = { forward(this: { leaf: { forward(x: number): number } }, x: number) { const y = this.leaf.forward(x); return y; }, leaf };
  const flow = buildFlow(root, {
    name: "Root",
    childrenOf: (op) => (op === root ? [["leaf", leaf]] : []),
    expand: (op) => op !== leaf,
  });
  assert.ok(flow.nodes.some((n) => n.kind === "call" && n.op === "leaf"));
  assert.ok(!flow.nodes.some((n) => n.owner === "leaf"), "the leaf's forward is not analysed");
});

test("formatFlow leaves line numbers out when the source is all on one line (as tsx hands it over)", () => {
  const fn = function forward(x: number) { return x; };
  Object.defineProperty(fn, "toString", { value: () => "forward(x){let y=x+1;return y}" });
  const oneLine = { forward: fn };
  const text = formatFlow(buildFlow(oneLine, { name: "R", childrenOf: () => [] }));
  assert.doesNotMatch(text, /\(line \d+\)/);
  const fn2 = function forward(x: number) { return x; };
  Object.defineProperty(fn2, "toString", { value: () => "forward(x) {\n  const y = x + 1;\n  return y;\n}" });
  const multi = { forward: fn2 };
  assert.match(formatFlow(buildFlow(multi, { name: "M", childrenOf: () => [] })), /\(line \d+\)/);
});
