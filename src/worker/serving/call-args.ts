// Arguments of one serving call, from the request body to what the method receives: the shared
// checks (schema/args-check.ts) over the body's `args` / `value`, failing as a BAD_ARGS ServingError.
import { ArgsChecker } from "../../schema/args-check.ts";
import type { SchemaSet } from "../../schema/types.ts";
import type { MethodInfo } from "../runtime/surface.ts";
import { ServingError, type ValueEncoding } from "./wire.ts";

export class CallArgs {
  private readonly checker: ArgsChecker;

  constructor(private readonly schemas: SchemaSet | undefined) {
    this.checker = new ArgsChecker(schemas, (message) => new ServingError("BAD_ARGS", message));
  }

  /** The argument list for `label` (a method name or "forward"), or a BAD_ARGS ServingError saying what is wrong. */
  read(body: Record<string, unknown>, encoding: ValueEncoding, label: string, info: MethodInfo): Promise<unknown[]> {
    const fn = label === "forward" ? this.schemas?.forward : this.schemas?.methods[label];
    return this.checker.args(body.args ?? [], encoding, label, info, fn);
  }

  /** A field's new value (PUT /attr/<name>). */
  async value(body: Record<string, unknown>, encoding: ValueEncoding, name: string): Promise<unknown> {
    if (!("value" in body)) throw new ServingError("BAD_ARGS", `the body must be { "value": <new value of ${name}> }`);
    return this.checker.value(body.value, encoding, name);
  }
}
