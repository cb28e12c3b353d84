// Type tests for remote handles (checked by `tsc --noEmit`, run first by `npm test`): a served
// Operator is callable like the local one, and a class deploys as a job only when it has forward.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { deploy, Operator, operator, type RemoteJob, type RemoteServing } from "../../src/index.ts";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;

class Scale extends Operator {
  constructor(private k = 2) {
    super();
  }
  forward(x: number): number {
    return x * this.k;
  }
}

@operator()
class Plain {
  x = 1;
  _secret = "s";
  inc() {
    this.x += 1;
  }
}

@operator()
class Tally {
  total = 0;
  forward(n: number): number {
    return (this.total += n);
  }
}

const Counter = operator(
  class Counter {
    n = 0;
    forward(by: string) {
      return by.length;
    }
  },
);

const served = async () => {
  const r = await new Scale(3).deploy("ws", { type: "serving" });
  type _r = Expect<Equal<typeof r, RemoteServing<Scale>>>;
  // Called like the local operator, typed from forward.
  const v = await r(5);
  type _v = Expect<Equal<typeof v, number>>;
  const viaForward: number = await r.forward(5);
  // @ts-expect-error forward takes a number
  await r("5");
  // @ts-expect-error framework methods are not part of a serving
  await r.deploy("ws");
  return [v, viaForward];
};

const plainServing = async () => {
  const p = await deploy(Plain, "ws");
  await p.inc();
  const x: number = await p.x;
  // @ts-expect-error a class without forward is not callable remotely
  await p(1);
  // @ts-expect-error private names are not part of the remote type
  void p._secret;
  return x;
};

const classJobs = async () => {
  // A class with forward deploys as a job: built with init, forward per run.
  const t = await deploy(Tally, "ws", { type: "job", init: [] });
  type _t = Expect<Equal<typeof t, RemoteJob<Tally>>>;
  const total = await t(2);
  type _total = Expect<Equal<typeof total, number>>;
  // @ts-expect-error forward takes a number
  await t("2");
  // @ts-expect-error a class without forward cannot be deployed as a job
  await deploy(Plain, "ws", { type: "job" });
  // The call form types the static too.
  const c = await Counter.deploy("ws", { type: "job" });
  const len: number = await c("abc");
  // @ts-expect-error Counter.forward takes a string
  await c(3);
  const PlainWrapped = operator(class PlainToo { y = 1 });
  // @ts-expect-error a class without forward cannot be deployed as a job (static form)
  await PlainWrapped.deploy("ws", { type: "job" });
  return [total, len];
};

describe("remote handle types (runtime side of the type tests)", () => {
  it("the typed functions exist; they are only type-checked, never run against a platform", () => {
    for (const f of [served, plainServing, classJobs]) assert.equal(typeof f, "function");
    assert.equal(new Tally().forward(2), 2);
    assert.equal(new Counter().forward("ab"), 2);
  });
});
