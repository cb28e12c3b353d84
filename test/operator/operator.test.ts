import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Operator, getTracer, isOperator, type Span } from "../../src/index.ts";
import { Doubler, MyOperator, Parallel } from "./fixtures/ops.ts";

/** Spans pushed while `fn` runs. */
async function captureSpans(fn: () => Promise<unknown>): Promise<Span[]> {
  const spans: Span[] = [];
  const remove = getTracer().addSink({ push: (s) => spans.push(s) });
  try {
    await fn().catch(() => {});
  } finally {
    remove();
  }
  return spans;
}

class CustomError extends Error {
  override name = "CustomError";
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

class SyncThrower extends Operator {
  forward(_x: number): number {
    throw new CustomError("sync boom", 7);
  }
}

class AsyncThrower extends Operator {
  async forward(_x: number): Promise<number> {
    await new Promise((r) => setTimeout(r, 1));
    throw new CustomError("async boom", 8);
  }
}

class Leaf extends Operator {
  forward() {
    return "leaf";
  }
}

class Mid extends Operator {
  inner = new Leaf();
  other = new Leaf();
  forward() {
    return this.inner();
  }
}

class Tree extends Operator {
  b = new Mid();
  layers = [new Leaf(), new Leaf()];
  byName = new Map<string, Operator>([["m", new Leaf()]]);
  group = { x: new Leaf(), notAnOp: 3 };
  scalar = 1;
  forward() {
    return "tree";
  }
}

describe("Operator: calling", () => {
  it("new X(...) is callable and runs forward with its fields (the MyOperator of the README)", async () => {
    const job = new MyOperator(1, 3);
    assert.equal(typeof job, "function");
    assert.ok(job instanceof MyOperator);
    assert.ok(job instanceof Operator);
    assert.ok(isOperator(job));
    assert.equal(await job(2), 11); // (1 + 2) * 3 + 2
    assert.equal(await new Doubler()(21), 42);
  });

  it("a sync forward still returns a Promise", async () => {
    const d = new Doubler(5);
    const p = d(2);
    assert.ok(p instanceof Promise);
    assert.equal(await p, 10);
  });

  it("an async forward returns one Promise (not a Promise of a Promise)", async () => {
    class A extends Operator {
      async forward(x: number) {
        return x + 1;
      }
    }
    const p = new A()(1);
    assert.ok(p instanceof Promise);
    assert.equal(await p, 2);
  });

  it("a sync throw in forward rejects (never throws synchronously) with the same error object", async () => {
    const op = new SyncThrower();
    let p: Promise<number> | undefined;
    assert.doesNotThrow(() => {
      p = op(1);
    });
    const err = await p!.then(
      () => assert.fail("should reject"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof CustomError);
    assert.ok(err instanceof Error);
    assert.equal(err.message, "sync boom");
    assert.equal(err.code, 7);
    assert.match(err.stack ?? "", /^CustomError: sync boom/);
    assert.match(err.stack ?? "", /forward/);
  });

  it("an async throw in forward keeps class, message and stack", async () => {
    await assert.rejects(new AsyncThrower()(1), (err: unknown) => {
      assert.ok(err instanceof CustomError);
      assert.equal(err.message, "async boom");
      assert.equal(err.code, 8);
      assert.match(err.stack ?? "", /operator\.test\.ts/);
      return true;
    });
  });

  it("the span of a failing call records status error with the error's name and message", async () => {
    for (const op of [new SyncThrower(), new AsyncThrower()]) {
      const spans = await captureSpans(() => op(1));
      assert.equal(spans.length, 1);
      const [span] = spans;
      assert.equal(span!.status, "error");
      assert.equal(span!.error?.name, "CustomError");
      assert.match(span!.error!.message, /boom/);
      assert.match(span!.error!.stack ?? "", /CustomError/);
    }
  });

  it("a successful call's span is ok with no error", async () => {
    const spans = await captureSpans(() => new Doubler()(1));
    assert.equal(spans.length, 1);
    assert.equal(spans[0]!.status, "ok");
    assert.equal(spans[0]!.error, undefined);
    assert.equal(spans[0]!.name, "Doubler");
    assert.ok(spans[0]!.end >= spans[0]!.start);
  });

  it("a non-Error throw is passed through and recorded", async () => {
    class Weird extends Operator {
      forward() {
        throw "plain string";
      }
    }
    let caught: unknown;
    const spans = await captureSpans(() => new Weird()().catch((e: unknown) => void (caught = e)));
    assert.equal(caught, "plain string");
    assert.equal(spans[0]?.status, "error");
    assert.equal(spans[0]?.error?.message, "plain string");
  });

  it("a #private field on an Operator subclass works inside forward", async () => {
    class Secretive extends Operator {
      #secret = 40;
      #bump() {
        return ++this.#secret;
      }
      forward(x: number) {
        return this.#bump() + x;
      }
      static peek(o: Secretive) {
        return #secret in o ? o.#secret : -1;
      }
    }
    const s = new Secretive();
    assert.equal(await s(1), 42);
    assert.equal(await s(1), 43);
    assert.equal(Secretive.peek(s), 42);
  });

  it("fields named name and length are assignable in the constructor", async () => {
    // `override`: the callable Operator type carries Function's name/length (noImplicitOverride).
    class Named extends Operator {
      override name: string;
      override length: number;
      constructor() {
        super();
        this.name = "x";
        this.length = 12;
      }
      forward() {
        return `${this.name}:${this.length}`;
      }
    }
    class FieldNamed extends Operator {
      override name = "field";
      forward() {
        return this.name;
      }
    }
    const n = new Named();
    assert.equal(n.name, "x");
    assert.equal(n.length, 12);
    assert.equal(await n(), "x:12");
    n.name = "y";
    assert.equal(await n(), "y:12");
    assert.equal(await new FieldNamed()(), "field");
  });

  it("call/apply/bind work like on any function (and still go through forward)", async () => {
    const d = new Doubler(3);
    assert.equal(await d.call(null, 2), 6);
    assert.equal(await d.apply(null, [4]), 12);
    assert.equal(await d.bind(null, 5)(), 15);
    assert.deepEqual(await Promise.all([1, 2].map((x) => d(x))), [3, 6]);
    assert.equal(Object.keys(d).includes("call"), false);
  });

  it("subclasses of subclasses, getters and methods behave normally", async () => {
    class Base extends Operator {
      base = 1;
      get twice() {
        return this.base * 2;
      }
      helper() {
        return 100;
      }
      forward(x: number) {
        return x + this.base;
      }
    }
    class Derived extends Base {
      override forward(x: number) {
        return super.forward(x) + this.twice + this.helper();
      }
    }
    const d = new Derived();
    assert.ok(d instanceof Base);
    assert.equal(await d(1), 1 + 1 + 2 + 100);
  });
});

describe("Operator: tree", () => {
  it("children() lists direct children in insertion order, including arrays, maps and plain objects", () => {
    const t = new Tree();
    const kids = t.children();
    assert.deepEqual(kids, [t.b, t.layers[0], t.layers[1], t.byName.get("m"), t.group.x]);
    assert.deepEqual(t.b.children(), [t.b.inner, t.b.other]);
    assert.deepEqual(new Leaf().children(), []);
  });

  it("children registered in the constructor (this.x = …) and by field initializers alike", () => {
    const m = new MyOperator(1, 2);
    assert.deepEqual(m.children(), [m.b]);
    const p = new Parallel();
    assert.deepEqual(p.children(), [p.left, p.right, ...p.layers]);
  });

  it("namedOperators() is pre-order with dotted names and the root as ''", () => {
    const t = new Tree();
    const names = [...t.namedOperators()].map(([n]) => n);
    assert.deepEqual(names, ["", "b", "b.inner", "b.other", "layers.0", "layers.1", "byName.m", "group.x"]);
    const byName = new Map(t.namedOperators());
    assert.equal(byName.get("b.inner"), t.b.inner);
    assert.equal(byName.get("layers.1"), t.layers[1]);
    assert.equal(byName.get(""), t);
  });

  it("a shared child appears once (under its first name) in namedOperators(), operators() and children()", () => {
    class Shared extends Operator {
      a: Leaf;
      b: Leaf;
      wrap: Mid;
      constructor() {
        super();
        this.a = new Leaf();
        this.b = this.a;
        this.wrap = new Mid();
        this.wrap.other = this.a;
      }
      forward() {
        return 0;
      }
    }
    const s = new Shared();
    assert.deepEqual(
      [...s.namedOperators()].map(([n]) => n),
      ["", "a", "wrap", "wrap.inner"],
    );
    assert.equal(s.operators().length, 4);
    assert.deepEqual(s.children(), [s.a, s.wrap]);
  });

  it("a cycle (a child pointing back at its parent) does not loop", () => {
    const t = new Tree();
    (t.b as any).up = t;
    assert.equal([...t.namedOperators()].length, 8);
    assert.doesNotThrow(() => String(t));
  });

  it("operators() is every operator, pre-order, including the root", () => {
    const t = new Tree();
    const ops = t.operators();
    assert.equal(ops.length, 8);
    assert.equal(ops[0], t);
    assert.equal(ops[1], t.b);
    assert.equal(ops[2], t.b.inner);
  });

  it("propagate(kwargs) sets the fields on the op and every descendant", () => {
    const t = new Tree();
    const ret = t.propagate({ debug: true, level: 3 });
    assert.equal(ret, t);
    for (const op of t.operators()) {
      assert.equal((op as any).debug, true);
      assert.equal((op as any).level, 3);
    }
  });

  it("thaw(spec) assigns fields by dotted name", () => {
    const m = new MyOperator(1, 2);
    const ret = m.thaw({ operators: { "": { a: 10 }, b: { k: 5, id: "op-b" } } });
    assert.equal(ret, m);
    assert.equal(m.a, 10);
    assert.equal((m.b as any).k, 5);
    assert.equal((m.b as any).id, "op-b");
    const t = new Tree();
    t.thaw({ operators: { "b.inner": { tag: "deep" }, "layers.1": { tag: "l1" } } });
    assert.equal((t.b.inner as any).tag, "deep");
    assert.equal((t.layers[1] as any).tag, "l1");
    assert.equal((t.layers[0] as any).tag, undefined);
  });

  it("thaw(spec) changes behaviour of forward", async () => {
    const m = new MyOperator(1, 2);
    m.thaw({ operators: { b: { k: 10 } } });
    assert.equal(await m(2), (1 + 2) * 10 + 2);
  });

  it("thaw(spec) rejects unknown names, naming the bad and the known names", () => {
    const m = new MyOperator(1, 2);
    assert.throws(
      () => m.thaw({ operators: { "b.nope": { a: 1 } } }),
      (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.match(err.message, /"b\.nope"/);
        assert.match(err.message, /MyOperator/);
        assert.match(err.message, /"b"/);
        return true;
      },
    );
  });

  it("thaw(spec) never replaces an operator's prototype (__proto__ in stored JSON)", () => {
    const m = new MyOperator(1, 2);
    const spec = JSON.parse('{"operators":{"":{"__proto__":{"polluted":true}}}}');
    assert.throws(() => m.thaw(spec), /__proto__/);
    assert.ok(m instanceof MyOperator);
    assert.equal((m as any).polluted, undefined);
  });

  it("toString() prints the tree like torch, nested 2+ levels", () => {
    const t = new Tree();
    assert.equal(
      t.toString(),
      [
        "Tree(",
        "  (b): Mid(",
        "    (inner): Leaf()",
        "    (other): Leaf()",
        "  )",
        "  (layers.0): Leaf()",
        "  (layers.1): Leaf()",
        "  (byName.m): Leaf()",
        "  (group.x): Leaf()",
        ")",
      ].join("\n"),
    );
    assert.equal(String(new Leaf()), "Leaf()");
    assert.equal(`${new MyOperator(1, 2)}`, "MyOperator(\n  (b): Doubler()\n)");
  });

  it("a child added after construction is found", async () => {
    const m = new Leaf();
    (m as any).late = new Doubler();
    assert.deepEqual(
      [...m.namedOperators()].map(([n]) => n),
      ["", "late"],
    );
  });
});

describe("Operator: remoteInit", () => {
  it("triggerRemoteInit runs remoteInit pre-order across the tree, each once per process", async () => {
    const log: string[] = [];
    class Child extends Operator {
      constructor(readonly tag: string) {
        super();
      }
      override async remoteInit() {
        await new Promise((r) => setTimeout(r, 1));
        log.push(this.tag);
      }
      forward() {
        return this.tag;
      }
    }
    class Root extends Operator {
      a = new Child("a");
      nested = { b: new Child("b") };
      list = [new Child("c")];
      constructor() {
        super();
        (this.a as any).deep = new Child("a.deep");
      }
      override remoteInit() {
        log.push("root");
      }
      forward() {
        return 1;
      }
    }
    const r = new Root();
    await r.triggerRemoteInit();
    assert.deepEqual(log, ["root", "a", "a.deep", "b", "c"]);
    await r.triggerRemoteInit();
    assert.deepEqual(log, ["root", "a", "a.deep", "b", "c"], "second trigger runs nothing");
    await r.a.triggerRemoteInit();
    assert.equal(log.length, 5, "a subtree trigger after the root's runs nothing either");
  });

  it("concurrent triggers run each remoteInit once and both wait for it to finish", async () => {
    let runs = 0;
    let finished = false;
    class Slow extends Operator {
      override async remoteInit() {
        runs++;
        await new Promise((r) => setTimeout(r, 5));
        finished = true;
      }
      forward() {
        return 0;
      }
    }
    const s = new Slow();
    await Promise.all([s.triggerRemoteInit(), s.triggerRemoteInit().then(() => assert.ok(finished, "second trigger waited"))]);
    assert.equal(runs, 1);
  });

  it("a shared child is initialised once", async () => {
    let runs = 0;
    class Counted extends Operator {
      override remoteInit() {
        runs++;
      }
      forward() {
        return 0;
      }
    }
    class Root extends Operator {
      a = new Counted();
      b = this.a;
      forward() {
        return 0;
      }
    }
    await new Root().triggerRemoteInit();
    assert.equal(runs, 1);
  });

  it("a failing remoteInit rejects the trigger and is retried by the next one", async () => {
    let attempts = 0;
    class Flaky extends Operator {
      override remoteInit() {
        attempts++;
        if (attempts === 1) throw new Error("init failed");
      }
      forward() {
        return 0;
      }
    }
    const f = new Flaky();
    await assert.rejects(f.triggerRemoteInit(), /init failed/);
    await f.triggerRemoteInit();
    await f.triggerRemoteInit();
    assert.equal(attempts, 2);
  });

  it("remoteInit is not run by a plain local call", async () => {
    let runs = 0;
    class Lazy extends Operator {
      override remoteInit() {
        runs++;
      }
      forward() {
        return 1;
      }
    }
    await new Lazy()();
    assert.equal(runs, 0);
  });
});
