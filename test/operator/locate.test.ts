import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { LocateError, exportNamesFromSource, locateOperator } from "../../src/operator/locate.ts";
import { MaterializeError, materialize } from "../../src/operator/materialize.ts";
import { Operator, isOperator } from "../../src/index.ts";
import { Counter, Scaler, getHidden, getHiddenClass, makeHiddenOp, objectOp, scaler5, triple } from "./fixtures/locate-ops.ts";
import { Bar, MyOperator, foo } from "./fixtures/ops.ts";

const LOCATE_OPS = fileURLToPath(new URL("./fixtures/locate-ops.ts", import.meta.url));
const OPS = fileURLToPath(new URL("./fixtures/ops.ts", import.meta.url));

describe("locateOperator", () => {
  it("finds a function operator's export by identity (kind fn)", async () => {
    assert.deepEqual(await locateOperator(triple), { file: LOCATE_OPS, exportName: "triple", kind: "fn", init: [] });
    assert.deepEqual(await locateOperator(foo), { file: OPS, exportName: "foo", kind: "fn", init: [] });
  });

  it("finds a wrapped class (kind class) and records init args as wire values", async () => {
    assert.deepEqual(await locateOperator(Counter), { file: LOCATE_OPS, exportName: "Counter", kind: "class", init: [] });
    const loc = await locateOperator(Bar, { init: [5] });
    assert.equal(loc.exportName, "Bar");
    assert.equal(loc.kind, "class");
    assert.deepEqual(loc.init, [5]);
    const withDate = await locateOperator(Counter, { init: [new Date(0), undefined] });
    assert.equal(withDate.init.length, 2);
    assert.notDeepEqual(withDate.init[0], new Date(0), "encoded, not the raw Date");
  });

  it("finds an exported Operator instance itself", async () => {
    const loc = await locateOperator(scaler5);
    assert.equal(loc.file, LOCATE_OPS);
    assert.equal(loc.exportName, "scaler5");
    assert.equal(loc.kind, "instance");
    assert.equal(await materialize(loc), scaler5);
  });

  it("finds an exported operator(obj)", async () => {
    const loc = await locateOperator(objectOp);
    assert.equal(loc.exportName, "objectOp");
    assert.equal(await materialize(loc), objectOp);
  });

  it("an Operator instance built elsewhere is located by its exported class (kind operator) with a field snapshot", async () => {
    const s = new Scaler(3);
    s.offset = 7;
    (s.inner as any).k = 10;
    const loc = await locateOperator(s, { init: [3] });
    assert.equal(loc.file, LOCATE_OPS);
    assert.equal(loc.exportName, "Scaler");
    assert.equal(loc.kind, "operator");
    assert.deepEqual(loc.init, [3]);
    assert.deepEqual(loc.state, { "": { factor: 3, offset: 7 }, inner: { k: 10 } });
  });

  it("snapshot skips children, functions and values the codec cannot send", async () => {
    const m = new MyOperator(1, 3);
    (m as any).fn = () => 1;
    (m as any).sym = Symbol("x");
    (m as any).list = [m.b];
    const loc = await locateOperator(m);
    assert.equal(loc.exportName, "MyOperator");
    assert.deepEqual(loc.state, { "": { a: 1 }, b: { k: 3 } });
  });

  it("a non-exported operator gives a LocateError saying to export it", async () => {
    const cases: Array<[Operator | (abstract new () => unknown), RegExp]> = [
      [getHidden(), /hidden is not exported/],
      [makeHiddenOp(), /HiddenOp is not exported/],
      [getHiddenClass(), /HiddenClass is not exported/],
    ];
    for (const [target, name] of cases) {
      await assert.rejects(locateOperator(target as Operator), (e: unknown) => {
        assert.ok(e instanceof LocateError, String(e));
        assert.equal(e.name, "LocateError");
        assert.match(e.message, name);
        assert.match(e.message, /export it/);
        assert.match(e.message, /locate-ops\.ts/);
        return true;
      });
    }
  });

  it("an operator defined in this test file and not exported fails the same way", async () => {
    class Local extends Operator {
      forward() {
        return 1;
      }
    }
    await assert.rejects(locateOperator(new Local()), (e: unknown) => e instanceof LocateError && /Local is not exported/.test(e.message));
  });

  it("an explicit exportName is checked", async () => {
    assert.equal((await locateOperator(triple, { exportName: "triple" })).exportName, "triple");
    await assert.rejects(locateOperator(triple, { exportName: "whereAmI" }), (e: unknown) => e instanceof LocateError && /no export named "whereAmI"/.test(e.message));
  });

  it("exportNamesFromSource lists declared and re-listed exports (fallback while a module loads)", () => {
    const names = exportNamesFromSource(LOCATE_OPS);
    for (const n of ["triple", "whereAmI", "Counter", "Scaler", "scaler5", "objectOp", "getHidden"]) assert.ok(names.includes(n), n);
    assert.ok(!names.includes("hidden"));
    assert.ok(!names.includes("HiddenOp"));
  });
});

describe("materialize", () => {
  it("fn: returns the module's operator", async () => {
    const op = await materialize(await locateOperator(triple));
    assert.equal(op, triple);
    assert.equal(await (op as Operator)(2), 6);
  });

  it("class: constructs a fresh plain instance with the init args", async () => {
    const inst = (await materialize(await locateOperator(Counter, { init: [41] }))) as Counter;
    assert.ok(inst instanceof Counter);
    assert.equal(isOperator(inst), false);
    assert.equal(inst.inc(), 42);
  });

  it("operator: rebuilds with init and restores the field snapshot with thaw", async () => {
    const s = new Scaler(3);
    s.offset = 7;
    (s.inner as any).k = 10;
    const expected = await s(2); // (2 * 10) * 3 + 7
    assert.equal(expected, 67);
    const rebuilt = (await materialize(await locateOperator(s, { init: [3] }))) as Scaler;
    assert.notEqual(rebuilt, s);
    assert.ok(rebuilt instanceof Scaler);
    assert.equal(rebuilt.offset, 7);
    assert.equal((rebuilt.inner as any).k, 10);
    assert.equal(await rebuilt(2), expected);
  });

  it("operator: the snapshot alone restores fields even without init", async () => {
    const m = new MyOperator(4, 6);
    const rebuilt = (await materialize(await locateOperator(m))) as MyOperator;
    assert.equal(await rebuilt(1), await m(1));
  });

  it("a snapshot entry for an operator the rebuilt tree lacks is ignored", async () => {
    const loc = await locateOperator(new Scaler(2));
    loc.state = { ...loc.state, gone: { x: 1 } };
    const rebuilt = (await materialize(loc)) as Scaler;
    assert.equal(rebuilt.factor, 2);
  });

  it("bad locators give MaterializeError", async () => {
    await assert.rejects(materialize({ file: LOCATE_OPS, exportName: "nope", kind: "fn", init: [] }), (e: unknown) => e instanceof MaterializeError && /no export "nope"/.test(e.message));
    await assert.rejects(materialize({ file: LOCATE_OPS, exportName: "getHidden", kind: "fn", init: [] }), MaterializeError);
    await assert.rejects(materialize({ file: LOCATE_OPS, exportName: "scaler5", kind: "operator", init: [] }), MaterializeError);
    await assert.rejects(materialize({ file: LOCATE_OPS, exportName: "triple", kind: "class", init: [] }), MaterializeError);
    await assert.rejects(materialize({ file: LOCATE_OPS, exportName: "triple", kind: "bogus" as "fn", init: [] }), /unknown operator kind/);
  });
});
