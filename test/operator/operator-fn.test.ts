import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FunctionOperator, InstanceOperator, Operator, getTracer, isOperator, operator, type Span } from "../../src/index.ts";
import { Bar, Plain, WrappedPlain, foo } from "./fixtures/ops.ts";
import { WRAPPED_CLASS } from "../../src/operator/brand.ts";
import { stateOf } from "../../src/operator/invoke.ts";
import { wrappedClassMeta } from "../../src/operator/wrap-class.ts";

describe("operator(fn)", () => {
  it("wraps a sync function: callable, always a Promise, default params kept", async () => {
    const p = foo();
    assert.ok(p instanceof Promise);
    assert.equal(await p, 16);
    assert.equal(await foo(10), 100);
    assert.ok(isOperator(foo));
    assert.ok(foo instanceof Operator);
    assert.ok(foo instanceof FunctionOperator);
  });

  it("wraps an async function and an arrow function", async () => {
    const slow = operator(async function slow(x: number) {
      await new Promise((r) => setTimeout(r, 1));
      return x + 1;
    });
    assert.equal(await slow(1), 2);
    const arrow = operator((a: number, b = 10) => a * b);
    assert.equal(await arrow(2), 20);
    assert.equal(await arrow(2, 3), 6);
  });

  it("a sync throw from the function rejects with the original error", async () => {
    const bad = operator(function bad() {
      throw new TypeError("nope");
    });
    await assert.rejects(bad(), (e: unknown) => e instanceof TypeError && e.message === "nope");
  });

  it("keeps the function reachable and named", () => {
    const named = operator(function myJob(x: number) {
      return x;
    });
    assert.equal(stateOf(named).name, "myJob");
    assert.equal(stateOf(named).kind, "fn");
    assert.equal(typeof named.fn, "function");
    assert.equal(named.fn(3), 3);
    assert.equal(stateOf(operator((x: number) => x, { name: "renamed" })).name, "renamed");
  });

  it("each call is a span named after the function", async () => {
    const spans: Span[] = [];
    const remove = getTracer().addSink({ push: (s) => spans.push(s) });
    try {
      await foo(2);
    } finally {
      remove();
    }
    assert.equal(spans.length, 1);
    assert.equal(spans[0]!.name, "foo");
    assert.equal(spans[0]!.op, "foo");
  });

  it("operator(op) returns the same operator (options merged)", () => {
    const again = operator(foo, { type: "serving" });
    assert.equal(again, foo);
    assert.equal(stateOf(foo).options.type, "serving");
    delete stateOf(foo).options.type;
  });

  it("operator(OperatorSubclass) returns the class unchanged", () => {
    class Sub extends Operator {
      forward() {
        return 1;
      }
    }
    assert.equal(operator(Sub), Sub);
    assert.equal(wrappedClassMeta(Sub), undefined);
  });
});

describe("operator(Class) and @operator", () => {
  it("@operator() (fixture Bar): new Bar() is a normal local instance", () => {
    const bar = new Bar();
    assert.ok(bar instanceof Bar);
    assert.equal(typeof bar, "object");
    assert.equal(isOperator(bar), false);
    bar.inc();
    assert.equal(bar.getvalue(), 2);
    assert.equal(bar.x, 2);
    assert.equal(new Bar(5).x, 5);
    assert.deepEqual(Object.keys(bar), ["x"]);
    assert.ok(wrappedClassMeta(Bar));
  });

  it("operator(Class) returns the same class, keeping #private, getters/setters and statics", () => {
    assert.equal(WrappedPlain, Plain);
    const before = Plain.made;
    const p = new WrappedPlain();
    assert.equal(Plain.made, before + 1);
    assert.ok(p instanceof Plain);
    assert.equal(p.secret, 42);
    p.secret = 10;
    assert.equal(p.secret, 10);
    assert.ok(wrappedClassMeta(WrappedPlain));
  });

  it("wrapped classes built both ways behave identically to the unwrapped class", () => {
    const make = () =>
      class Account {
        static created = 0;
        static label() {
          return "acct";
        }
        #balance: number;
        owner: string;
        constructor(owner: string, balance = 0) {
          this.owner = owner;
          this.#balance = balance;
          Account.created++;
        }
        deposit(n: number) {
          this.#balance += n;
          return this;
        }
        get balance() {
          return this.#balance;
        }
        set balance(v: number) {
          if (v < 0) throw new RangeError("negative");
          this.#balance = v;
        }
        static hasBalance(o: object) {
          return #balance in o;
        }
      };
    const Raw = make();
    const ByCall = operator(make());
    @operator()
    class ByDecorator extends make() {}
    for (const C of [Raw, ByCall, ByDecorator]) {
      const a = new C("ann", 5);
      assert.equal(a.deposit(3).balance, 8);
      a.balance = 1;
      assert.equal(a.balance, 1);
      assert.throws(() => (a.balance = -1), RangeError);
      assert.equal(a.owner, "ann");
      assert.equal(C.label(), "acct");
      assert.ok(C.hasBalance(a));
      assert.ok(a instanceof C);
      assert.deepEqual(Object.keys(a), ["owner"]);
      assert.ok(C.created >= 1);
    }
  });

  it("bare @operator and @operator(opts) decorate classes too (TC39 decorators)", () => {
    @operator
    class Bare {
      v = 1;
      static s = "static";
    }
    @operator({ name: "custom", concurrency: 4 })
    class WithOpts {
      w = 2;
    }
    assert.equal(new Bare().v, 1);
    assert.equal(Bare.s, "static");
    assert.equal(new WithOpts().w, 2);
    assert.ok(wrappedClassMeta(Bare));
    assert.deepEqual(wrappedClassMeta(WithOpts)!.options, { name: "custom", concurrency: 4 });
    assert.equal(Object.keys(Bare).includes(WRAPPED_CLASS as any), false, "no enumerable static added");
    assert.deepEqual(Object.keys(Bare), ["s"]);
  });

  it("a wrapped subclass of another class keeps inheritance, super calls and instanceof", () => {
    class Animal {
      constructor(readonly name: string) {}
      speak() {
        return `${this.name} makes a sound`;
      }
    }
    @operator()
    class Dog extends Animal {
      override speak() {
        return `${super.speak()}: woof`;
      }
    }
    const WrappedMap = operator(class Registry extends Map<string, number> {});
    const d = new Dog("rex");
    assert.ok(d instanceof Dog);
    assert.ok(d instanceof Animal);
    assert.equal(d.speak(), "rex makes a sound: woof");
    assert.equal(d.name, "rex");
    const m = new WrappedMap([["a", 1]]);
    assert.ok(m instanceof Map);
    assert.equal(m.get("a"), 1);
  });

  it("a subclass of a wrapped class works as a normal class", () => {
    class Sub extends Bar {
      double() {
        this.x *= 2;
      }
    }
    const s = new Sub(3);
    s.double();
    s.inc();
    assert.equal(s.getvalue(), 7);
    assert.ok(s instanceof Bar);
  });

  it("wrapping twice keeps one class and merges options", () => {
    class Twice {
      a = 1;
    }
    const A = operator(Twice, { name: "one" });
    const B = operator(A, { type: "job" });
    assert.equal(A, Twice);
    assert.equal(B, Twice);
    assert.deepEqual(wrappedClassMeta(Twice)!.options, { name: "one", type: "job" });
  });

  it("a class that already has a static deploy is refused with a clear TypeError", () => {
    class HasDeploy {
      static deploy() {
        return "mine";
      }
    }
    assert.throws(
      () => operator(HasDeploy),
      (e: unknown) => e instanceof TypeError && /HasDeploy/.test(e.message) && /static "deploy"/.test(e.message),
    );
    assert.equal(HasDeploy.deploy(), "mine", "the class is left as it was");
    assert.equal(wrappedClassMeta(HasDeploy), undefined);
    assert.throws(() => {
      @operator()
      class AlsoHasDeploy {
        static deploy = 1;
      }
      return AlsoHasDeploy;
    }, TypeError);
  });

  it("@operator() on a method is refused", () => {
    const decorate = operator() as unknown as (v: unknown, ctx: unknown) => unknown;
    assert.throws(() => decorate(function m() {}, { kind: "method", name: "m" }), /decorates classes only/);
  });
});

describe("operator(instance)", () => {
  it("wraps a built object: calls go to its forward with the object as this", async () => {
    class Model {
      calls = 0;
      constructor(readonly scale: number) {}
      forward(x: number) {
        this.calls++;
        return x * this.scale;
      }
    }
    const model = new Model(3);
    const op = operator(model);
    assert.ok(op instanceof InstanceOperator);
    assert.ok(isOperator(op));
    assert.equal(op.target, model);
    assert.equal(await op(2), 6);
    assert.equal(model.calls, 1);
    assert.equal(stateOf(op).name, "Model");
  });

  it("wraps an object literal with a forward method (not mistaken for options)", async () => {
    const op = operator({
      forward(a: number) {
        return a > 1;
      },
    });
    assert.ok(isOperator(op));
    assert.equal(await op(3), true);
  });

  it("an object without forward gives a clear error when called", async () => {
    const op = operator(new Plain());
    await assert.rejects((op as unknown as () => Promise<unknown>)(), (e: unknown) => e instanceof TypeError && /no forward\(\) method/.test(e.message));
  });

  it("an instance operator is a child of the operator holding it", () => {
    class Holder extends Operator {
      wrapped = operator({ forward: (x: number) => x });
      forward(x: number) {
        return this.wrapped(x);
      }
    }
    const h = new Holder();
    assert.deepEqual(h.children(), [h.wrapped]);
  });
});

describe("operator(): unsupported inputs", () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ["a number", 42, /got a number/],
    ["null", null, /got null/],
    ["a string", "fn", /got a string/],
    ["a Promise", Promise.resolve(1), /Promise \(await it first\)/],
    ["a built-in function", Math.max, /built-in or bound/],
    ["a bound function", function f() {}.bind(null), /built-in or bound/],
  ];
  for (const [label, value, message] of cases) {
    it(`refuses ${label} with a TypeError`, () => {
      assert.throws(
        () => (operator as (x: unknown) => unknown)(value),
        (e: unknown) => e instanceof TypeError && message.test(e.message) && /operator\(/.test(e.message),
      );
    });
  }

  it("refuses bad options", () => {
    assert.throws(() => (operator as (x: unknown, o: unknown) => unknown)(function f() {}, 5), /opts must be a plain options object/);
  });
});
