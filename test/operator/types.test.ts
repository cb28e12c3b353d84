// Type tests: checked by `npx tsc --noEmit -p .` (run first by `npm test`). A `@ts-expect-error`
// that stops erroring, or an `Expect<Equal<…>>` that stops holding, fails the typecheck.
// The few runtime assertions keep the file a real test under node:test too.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Operator, operator, starMap, type SettledResult, type ForwardArgs, type ForwardResult } from "../../src/index.ts";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;

class Scale extends Operator {
  constructor(private k: number) {
    super();
  }
  forward(x: number): string {
    return String(x * this.k);
  }
}

class AsyncAdd extends Operator {
  async forward(a: number, b: number) {
    return a + b;
  }
}

class Outer extends Operator {
  inner = new Scale(3);
  async forward(x: number) {
    const s = await this.inner(x);
    type _inner = Expect<Equal<typeof s, string>>;
    return s.length;
  }
}

const scale = new Scale(2);
const callScale = () => scale(2);
type _syncForwardIsPromise = Expect<Equal<ReturnType<typeof callScale>, Promise<string>>>;
type _args = Expect<Equal<ForwardArgs<Scale>, [x: number]>>;
type _result = Expect<Equal<ForwardResult<Scale>, string>>;

const add = new AsyncAdd();
const callAdd = () => add(1, 2);
type _asyncForwardNotDoubleWrapped = Expect<Equal<ReturnType<typeof callAdd>, Promise<number>>>;

const outer = new Outer();
const callOuter = () => outer(1);
type _outer = Expect<Equal<ReturnType<typeof callOuter>, Promise<number>>>;

// Wrong calls are type errors.
const wrongCalls = async () => {
  // @ts-expect-error wrong argument type
  await scale("2");
  // @ts-expect-error too many arguments
  await scale(1, 2);
  // @ts-expect-error missing argument
  await add(1);
  // @ts-expect-error the result is a string, not a number
  const n: number = await scale(2);
  // @ts-expect-error a call is a Promise, not the bare value
  const s: string = scale(2);
  return [n, s];
};

// Operator API is typed on instances.
const mapped = () => scale.map([1, 2, 3]);
type _map = Expect<Equal<ReturnType<typeof mapped>, Promise<string[]>>>;
const settled = () => scale.map([1, 2], { settle: true });
type _mapSettled = Expect<Equal<ReturnType<typeof settled>, Promise<SettledResult<string>[]>>>;
const badMap = () => {
  // @ts-expect-error map inputs are forward's first argument
  return scale.map(["a"]);
};
const named = () => [...scale.namedOperators()];
type _named = Expect<Equal<ReturnType<typeof named>, [string, Operator][]>>;

// operator(fn): sync and async, default parameters keep their inferred types.
const foo = operator(function foo(i = 4) {
  return i * i;
});
const callFoo = () => foo();
type _foo = Expect<Equal<ReturnType<typeof callFoo>, Promise<number>>>;
type _fooArgs = Expect<Equal<Parameters<typeof foo>, [i?: number]>>;
const len = operator(async (s: string) => s.length);
const callLen = () => len("abc");
type _len = Expect<Equal<ReturnType<typeof callLen>, Promise<number>>>;
const wrongFn = async () => {
  // @ts-expect-error foo takes a number
  await foo("x");
  // @ts-expect-error len returns a number
  const t: string = await len("a");
  return t;
};
const fooIsOperator: Operator = foo;

// operator(Class) and decorators keep the class type: `new` gives a plain instance.
class Counter {
  x: number;
  constructor(x = 1) {
    this.x = x;
  }
  inc() {
    this.x += 1;
  }
}
const WrappedCounter = operator(Counter);
const counter = new WrappedCounter(5);
type _counter = Expect<Equal<typeof counter, Counter>>;
// @ts-expect-error constructor argument is a number
new WrappedCounter("5");

@operator()
class Decorated {
  y = 2;
}
@operator
class BareDecorated {
  z = 3;
}
@operator({ name: "renamed", type: "job" })
class DecoratedWithOptions {
  w = 4;
}
type _decorated = Expect<Equal<InstanceType<typeof Decorated>, Decorated>>;

// operator(instance) is callable with the object's forward.
const viaObject = operator({
  forward(a: number) {
    return a > 1;
  },
});
const callObject = () => viaObject(3);
type _object = Expect<Equal<ReturnType<typeof callObject>, Promise<boolean>>>;
// operator(op) returns the operator unchanged.
const same = operator(scale);
type _same = Expect<Equal<typeof same, Scale>>;

// starMap results.
const star = () => starMap([[scale, [1]], [foo, []]]);
type _star = Expect<Equal<ReturnType<typeof star>, Promise<unknown[]>>>;

describe("types (runtime side of the type tests)", () => {
  it("the typed calls behave as typed", async () => {
    assert.equal(await callScale(), "4");
    assert.equal(await callAdd(), 3);
    assert.equal(await callOuter(), 1);
    assert.equal(await callFoo(), 16);
    assert.equal(await callLen(), 3);
    assert.equal(await callObject(), true);
    assert.deepEqual(await mapped(), ["2", "4", "6"]);
    assert.equal(counter.x, 5);
    assert.equal(new Decorated().y, 2);
    assert.equal(new BareDecorated().z, 3);
    assert.equal(new DecoratedWithOptions().w, 4);
    assert.equal(same, scale);
    assert.equal(fooIsOperator, foo);
    for (const f of [wrongCalls, badMap, named, settled, wrongFn, star]) assert.equal(typeof f, "function");
  });
});
