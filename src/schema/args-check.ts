// Arguments of one call to a deployed operator, checked before user code sees them: decoded
// (tagged codec) or taken as plain JSON, checked against the recorded arity, then against the
// parameter schemas recorded at deploy; plain JSON is then rebuilt into the declared rich types.
// A serving checks each request with it, the job trigger route each argument list before queueing.
import { CodecError, fromWire, toPlain } from "../codec/index.ts";
import { arityProblem, formatSignature, type ParamInfo } from "../operator/signature.ts";
import { revive } from "./revive.ts";
import type { FnSchemas, JsonSchema, SchemaSet } from "./types.ts";
import type { SchemaValidator } from "./validate.ts";

/** How values travel: plain JSON (any HTTP client) or the tagged codec (the SDK). */
export type ArgsEncoding = "plain" | "tagged";

/** The parameters and arity a call is checked against (a recorded or live signature). */
export interface CheckedSignature {
  params: readonly ParamInfo[];
  minArgs?: number;
  maxArgs: number | null;
}

/** Makes the error a caller mistake is reported with (each caller has its own error type). */
export type BadArgs = (message: string) => Error;

export class ArgsChecker {
  private validator: Promise<SchemaValidator> | undefined;

  constructor(
    readonly schemas: SchemaSet | undefined,
    private readonly bad: BadArgs,
  ) {}

  /**
   * The argument list `raw` for a call of `label` (`add`, `forward`, a method name), or the caller's
   * error naming the parameter and the signature. `fn`: the call's schemas, when recorded.
   */
  async args(raw: unknown, encoding: ArgsEncoding, label: string, sig: CheckedSignature, fn: FnSchemas | undefined, what = "args"): Promise<unknown[]> {
    const list = encoding === "tagged" ? this.decode(raw, what) : raw;
    if (!Array.isArray(list)) throw this.bad(`${what} must be an array of arguments, like { "args": [1, "two"] }; got ${typeof list}`);
    const problem = arityProblem(label, sig, list.length);
    if (problem) throw this.bad(problem);
    return fn ? this.checked(list, encoding, label, sig.params, fn) : list;
  }

  /** A value of a field (`name`) checked against its schema, when one was recorded. */
  async value(raw: unknown, encoding: ArgsEncoding, name: string): Promise<unknown> {
    const value = encoding === "tagged" ? this.decode(raw, "value") : raw;
    const schema = this.schemas?.fields[name];
    if (!schema) return value;
    await this.problem(schema, value, encoding, name, (where, what) => `${where} ${what}`);
    return encoding === "plain" ? revive(value, schema, this.schemas!.defs) : value;
  }

  private decode(wire: unknown, what: string): unknown {
    try {
      return fromWire(wire, { path: what });
    } catch (e) {
      throw this.bad(`${what} do not decode: ${(e as Error).message}`);
    }
  }

  private async checked(list: unknown[], encoding: ArgsEncoding, label: string, params: readonly ParamInfo[], fn: FnSchemas): Promise<unknown[]> {
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

  private async problem(schema: JsonSchema, value: unknown, encoding: ArgsEncoding, root: string, say: (where: string, what: string) => string): Promise<void> {
    let plain = value;
    if (encoding === "tagged") {
      try {
        plain = toPlain(value, { path: root, keepNonFinite: true });
      } catch (e) {
        if (e instanceof CodecError) throw this.bad(say(root, e.message));
        throw e;
      }
    }
    const found = (await this.validatorFor()).check(schema, plain, root);
    if (found) throw this.bad(say(found.path, found.message));
  }

  private async accepts(schema: JsonSchema, value: unknown): Promise<boolean> {
    return (await this.validatorFor()).check(schema, value, "") === undefined;
  }

  /** The validator (and ajv) load on the first call that needs them, not at cold start. */
  private validatorFor(): Promise<SchemaValidator> {
    return (this.validator ??= import("./validate.ts").then((m) => new m.SchemaValidator(this.schemas?.defs ?? {})));
  }
}
