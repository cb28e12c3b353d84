import { FLOW_LEAF, OPERATOR_BRAND, OPERATOR_STATE } from "./brand.ts";
import { invoke, stateOf } from "./invoke.ts";
import { constructionSites } from "./source-location.ts";
import type { OperatorState } from "./state.ts";
import { formatTree, walkNamed } from "./tree.ts";
import { buildDag, type Dag } from "./dag.ts";
import { buildFlow, type Flow } from "../flow/index.ts";
import { childEntries } from "./tree.ts";
import { flowSourceHint } from "./flow-source.ts";
import { mapOperator, starMap, type MapOptions, type SettledResult, type StarEntry } from "./map.ts";
import type { ForwardArgs, ForwardResult } from "./types.ts";

/** Calling an operator runs `forward` and always returns a Promise, typed from `forward`. */
export interface Operator {
  (...args: ForwardArgs<this>): Promise<ForwardResult<this>>;
}

/**
 * Base class for user logic, like `torch.nn.Module`: build child operators in the
 * constructor, put the logic in `forward`, call the instance.
 * @example
 * class Doubler extends Operator { forward(x: number) { return 2 * x } }
 * await new Doubler()(21) // 42
 */
export class Operator {
  constructor() {
    // The instance *is* a function whose prototype chain is the subclass's: calls work
    // without a Proxy and subclass #private fields land on the callable itself.
    const self = (...args: unknown[]) => invoke(self as unknown as Operator, args);
    // Functions own read-only `name`/`length`; drop them so user fields of those names work.
    delete (self as any).name;
    delete (self as any).length;
    const state: OperatorState = { name: new.target.name, kind: "operator", options: {}, ...constructionSites(new.target.name) };
    Object.defineProperty(self, OPERATOR_STATE, { value: state });
    Object.setPrototypeOf(self, new.target.prototype);
    return self as unknown as Operator;
  }

  /** User hook: runs once per process on a worker or serving, before the first call. */
  remoteInit(): void | Promise<void> {}

  /** Run `remoteInit` across the tree, pre-order, at most once per operator per process. */
  async triggerRemoteInit(): Promise<void> {
    for (const [, op] of this.namedOperators()) {
      const st = stateOf(op);
      // Share the running init: a second concurrent trigger waits instead of skipping ahead.
      // A failed init is forgotten so the next trigger retries it.
      if (!st.remoteInit) {
        const run = Promise.resolve().then(() => op.remoteInit());
        st.remoteInit = run;
        run.catch(() => st.remoteInit === run && (st.remoteInit = undefined));
      }
      await st.remoteInit;
    }
  }

  /** Direct child operators, in field insertion order. */
  children(): Operator[] {
    return [...new Set(childEntries(this).map(([, op]) => op))];
  }

  /** `[dottedName, op]` pairs, pre-order; the root is `""`, shared children once. */
  namedOperators(): Generator<[string, Operator]> {
    return walkNamed(this);
  }

  /** Every operator in the tree (including this one), pre-order. */
  operators(): Operator[] {
    return [...walkNamed(this)].map(([, op]) => op);
  }

  /** Set `fields` on this operator and every descendant. */
  propagate(fields: Record<string, unknown>): this {
    for (const op of this.operators()) Object.assign(op, fields);
    return this;
  }

  /**
   * Load a stored spec into the tree: `{ operators: { "": {...}, "b": {...} } }` assigns
   * each entry's fields to the operator with that dotted name.
   */
  thaw(spec: { operators: Record<string, Record<string, unknown>> }): this {
    const byName = new Map(walkNamed(this));
    for (const [name, fields] of Object.entries(spec.operators ?? {})) {
      const op = byName.get(name);
      if (!op) {
        const known = [...byName.keys()].map((k) => JSON.stringify(k)).join(", ");
        throw new Error(`thaw: no operator named ${JSON.stringify(name)} in ${stateOf(this).name}; known: ${known}`);
      }
      for (const [key, value] of Object.entries(fields)) {
        // A stored spec is data: never let it swap the operator's prototype.
        if (key === "__proto__") throw new Error(`thaw: refusing to set __proto__ on ${JSON.stringify(name)}`);
        (op as any)[key] = value;
      }
    }
    return this;
  }

  /** The tree plus the call edges observed during the last traced run rooted here. */
  getDag(): Dag {
    return buildDag(this);
  }

  /** Static analysis of `forward`, recursing into child operators. */
  getFlow(): Flow {
    return buildFlow(this as object, {
      name: stateOf(this).name,
      childrenOf: (op) => childEntries(op as Operator) as Array<[string, object]>,
      // nbox's own prebuilt operators (Shell) are steps of the user's flow, not part of it.
      expand: (op) => (op as Record<symbol, unknown>)[FLOW_LEAF] !== true,
      locate: flowSourceHint,
    });
  }

  /** Same logic over a list: each input is one argument; results in input order. */
  map<T extends this>(
    this: T,
    inputs: Iterable<ForwardArgs<T>[0]>,
    opts: MapOptions & { settle: true },
  ): Promise<SettledResult<ForwardResult<T>>[]>;
  map<T extends this>(this: T, inputs: Iterable<ForwardArgs<T>[0]>, opts?: MapOptions): Promise<ForwardResult<T>[]>;
  map(inputs: Iterable<unknown>, opts: MapOptions = {}): Promise<unknown[]> {
    return mapOperator(this, inputs, opts);
  }

  /** Different operators with different arguments: `op.starMap([[opA, [a1, a2]], [opB, [b1]]])` (same as the free `starMap`). */
  starMap(entries: readonly StarEntry[], opts: MapOptions & { settle: true }): Promise<SettledResult<unknown>[]>;
  starMap(entries: readonly StarEntry[], opts?: MapOptions): Promise<unknown[]>;
  starMap(entries: readonly StarEntry[], opts: MapOptions = {}): Promise<unknown[]> {
    return starMap(entries, opts);
  }

  toString(): string {
    return formatTree(this, (op) => stateOf(op).name);
  }
}

Object.defineProperty(Operator.prototype, OPERATOR_BRAND, { value: true });
// Instances are functions but their prototype chain skips Function.prototype (whose read-only
// `name` would block `this.name = …`): lend them call/apply/bind, which the callable type promises.
for (const key of ["call", "apply", "bind"] as const) {
  Object.defineProperty(Operator.prototype, key, { value: Function.prototype[key], writable: true, configurable: true });
}
