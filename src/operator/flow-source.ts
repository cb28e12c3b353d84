// Where an operator's `forward` is written, for flow: the stack frames recorded when it was built
// (source-mapped by tsx, so they name the user's .ts file and line) and the class that owns it.
import type { SourceHint } from "../flow/index.ts";
import { isOperator } from "./brand.ts";
import { stateOf } from "./invoke.ts";

export function flowSourceHint(op: object): SourceHint | undefined {
  if (!isOperator(op)) return undefined;
  const st = stateOf(op);
  const files = [...new Set([st.definedAt?.file, st.createdAt?.file].filter((f): f is string => !!f))];
  if (files.length === 0) return undefined;
  // The prototype that defines forward (an own `forward` is a wrapped function, with no class).
  let owner: object | null = Object.prototype.hasOwnProperty.call(op, "forward") ? null : Object.getPrototypeOf(op);
  while (owner && !Object.prototype.hasOwnProperty.call(owner, "forward")) owner = Object.getPrototypeOf(owner);
  const className = (owner as { constructor?: { name?: string } } | null)?.constructor?.name;
  return { files, line: (st.definedAt ?? st.createdAt)?.line, ...(className ? { className } : {}) };
}
