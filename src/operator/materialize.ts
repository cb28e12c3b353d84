import { pathToFileURL } from "node:url";
import { fromWire } from "../codec/index.ts";
import { isOperator } from "./brand.ts";
import { namedExports } from "./module-exports.ts";
import type { OperatorLocator } from "./locate.ts";
import type { Operator } from "./operator.ts";

export class MaterializeError extends Error {
  override name = "MaterializeError";
}

/**
 * Rebuild the operator a locator points at, in this process: import the module, take the
 * export, construct it with the recorded arguments and restore the field snapshot.
 * Returns an Operator for kinds fn/operator/instance and a plain instance for "class".
 */
export async function materialize(loc: OperatorLocator): Promise<Operator | object> {
  const mod = namedExports((await import(pathToFileURL(loc.file).href)) as Record<string, unknown>);
  if (!(loc.exportName in mod)) {
    throw new MaterializeError(`${loc.file} has no export "${loc.exportName}" (exports: ${Object.keys(mod).join(", ") || "none"})`);
  }
  const value = mod[loc.exportName];
  const init = loc.init.map((a) => fromWire(a));
  switch (loc.kind) {
    case "fn":
    case "instance":
      if (!isOperator(value)) throw new MaterializeError(`export "${loc.exportName}" is not an operator (got ${typeof value})`);
      return value;
    case "operator": {
      // An Operator instance is a function too: only a class (not an operator) can be built.
      if (typeof value !== "function" || isOperator(value)) throw new MaterializeError(`export "${loc.exportName}" is not an Operator class (got ${describe(value)})`);
      const op = new (value as new (...a: unknown[]) => Operator)(...init);
      if (loc.state) {
        const state = Object.fromEntries(
          Object.entries(loc.state).map(([name, fields]) => [name, Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, fromWire(v)]))]),
        );
        // Only restore fields of operators the rebuilt tree still has.
        const names = new Set([...op.namedOperators()].map(([n]) => n));
        op.thaw({ operators: Object.fromEntries(Object.entries(state).filter(([n]) => names.has(n))) });
      }
      return op;
    }
    case "class": {
      if (typeof value !== "function" || isOperator(value)) throw new MaterializeError(`export "${loc.exportName}" is not a class (got ${describe(value)})`);
      return new (value as new (...a: unknown[]) => object)(...init);
    }
    default:
      throw new MaterializeError(`unknown operator kind ${JSON.stringify(loc.kind)}`);
  }
}

function describe(value: unknown): string {
  if (isOperator(value)) return "an operator instance";
  return value === null ? "null" : typeof value;
}
