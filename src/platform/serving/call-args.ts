// Arguments of one serving call, from the request body to what the method receives: decoded
// (tagged codec) or taken as plain JSON, checked against the method's arity, then against the
// parameter schemas recorded at deploy; plain JSON is then rebuilt into the declared rich types.
import { CodecError, fromWire, toPlain } from "../../codec/index.ts";
import { arityProblem, formatSignature, type ParamInfo } from "../../operator/signature.ts";
import { revive } from "../../schema/revive.ts";
import type { FnSchemas, JsonSchema, SchemaSet } from "../../schema/types.ts";
import type { SchemaValidator } from "../../schema/validate.ts";
import type { MethodInfo } from "./surface.ts";
import { ServingError, type ValueEncoding } from "./wire.ts";

function decode(wire: unknown, what: string): unknown {
  try {
    return fromWire(wire, { path: what });
  } catch (e) {
    throw new ServingError("BAD_ARGS", `${what} do not decode: ${(e as Error).message}`);
  }
}

export class CallArgs {
  private validator: Promise<SchemaValidator> | undefined;

  constructor(private readonly schemas: SchemaSet | undefined) {}

  /** The argument list for `label` (a method name or "forward"), or a BAD_ARGS ServingError saying what is wrong. */
  async read(body: Record<string, unknown>, encoding: ValueEncoding, label: string, info: MethodInfo): Promise<unknown[]> {
    const raw = body.args ?? [];
    const list = encoding === "tagged" ? decode(raw, "args") : raw;
    if (!Array.isArray(list)) throw new ServingError("BAD_ARGS", `args must be an array of arguments, like { "args": [1, "two"] }; got ${typeof list}`);
    const problem = arityProblem(label, info, list.length);
    if (problem) throw new ServingError("BAD_ARGS", problem);
    const fn = label === "forward" ? this.schemas?.forward : this.schemas?.methods[label];
    return fn ? this.checked(list, encoding, label, info.params, fn) : list;
  }

  /** A field's new value (PUT /attr/<name>). */
  async value(body: Record<string, unknown>, encoding: ValueEncoding, name: string): Promise<unknown> {
    if (!("value" in body)) throw new ServingError("BAD_ARGS", `the body must be { "value": <new value of ${name}> }`);
    const value = encoding === "tagged" ? decode(body.value, "value") : body.value;
    const schema = this.schemas?.fields[name];
    if (!schema) return value;
    await this.problem(schema, value, encoding, name, (where, what) => `${where} ${what}`);
    return encoding === "plain" ? revive(value, schema, this.schemas!.defs) : value;
  }

  private async checked(list: unknown[], encoding: ValueEncoding, label: string, params: ParamInfo[], fn: FnSchemas): Promise<unknown[]> {
    const out = list.slice();
    const sig = formatSignature(label, params);
    for (let i = 0; i < out.length; i++) {
      const schema = fn.params[i] ?? fn.rest;
      if (!schema) continue;
      const p = params[Math.min(i, params.length - 1)];
      const absentOk = (p?.optional ?? false) || (fn.maybeAbsent?.[i] ?? false);
      // Plain JSON has no undefined: null in a slot that may be left out means "not given".
      if (encoding === "plain" && out[i] === null && absentOk && !(await this.accepts(schema, null))) out[i] = undefined;
      if (out[i] === undefined && absentOk) continue;
      const name = p ? (p.rest ? `${p.name}[${i - params.length + 1}]` : p.name) : `args[${i}]`;
      await this.problem(schema, out[i], encoding, name, (where, what) => `${sig}: argument ${where} ${what}`);
      if (encoding === "plain") out[i] = revive(out[i], schema, this.schemas!.defs);
    }
    return out;
  }

  private async problem(schema: JsonSchema, value: unknown, encoding: ValueEncoding, root: string, say: (where: string, what: string) => string): Promise<void> {
    let plain = value;
    if (encoding === "tagged") {
      try {
        plain = toPlain(value, { path: root, keepNonFinite: true });
      } catch (e) {
        if (e instanceof CodecError) throw new ServingError("BAD_ARGS", say(root, e.message));
        throw e;
      }
    }
    const found = (await this.validatorFor()).check(schema, plain, root);
    if (found) throw new ServingError("BAD_ARGS", say(found.path, found.message));
  }

  private async accepts(schema: JsonSchema, value: unknown): Promise<boolean> {
    return (await this.validatorFor()).check(schema, value, "") === undefined;
  }

  /** The validator (and ajv) load on the first call that needs them, not at cold start. */
  private validatorFor(): Promise<SchemaValidator> {
    return (this.validator ??= import("../../schema/validate.ts").then((m) => new m.SchemaValidator(this.schemas?.defs ?? {})));
  }
}
