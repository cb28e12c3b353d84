// Checks plain JSON values against the schemas recorded at deploy (ajv, JSON Schema 2020-12).
// The schemas come from the deployer's own source and run in the deployer's own serving process.
// Validators are compiled on first use, one per parameter, so a cold start pays nothing for them.
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { NBOX_TYPE_KEY, UNREPRESENTABLE_KEY, type JsonSchema } from "./types.ts";

const DEFS_ID = "urn:nbox:defs";

/** A JSON value at some place (`notes[0].title`) that does not fit: what was expected, what came. */
export interface SchemaProblem {
  path: string;
  message: string;
}

export class SchemaValidator {
  private readonly ajv: Ajv2020;
  private readonly cache = new Map<JsonSchema, ValidateFunction | null>();

  constructor(private readonly defs: Record<string, JsonSchema>) {
    this.ajv = new Ajv2020({
      strictTuples: false,
      // A NaN or Infinity from the SDK is still a number (plain JSON callers cannot send one).
      strictNumbers: false,
      verbose: true,
      formats: { "date-time": (s: string) => !Number.isNaN(Date.parse(s)) },
    });
    this.ajv.addKeyword(NBOX_TYPE_KEY);
    this.ajv.addKeyword(UNREPRESENTABLE_KEY);
    this.ajv.addSchema({ $id: DEFS_ID, $defs: defs });
  }

  /** The first problem of `value` against `schema`, or undefined when it fits (or the schema cannot be compiled). */
  check(schema: JsonSchema, value: unknown, root: string): SchemaProblem | undefined {
    const validate = this.compiled(schema);
    if (!validate || validate(value)) return undefined;
    // The last error is the outermost one (a union's own error comes after its branches').
    const e = validate.errors?.at(-1);
    return e ? { path: root + pointerToPath(e.instancePath), message: explain(e, this.defs) } : { path: root, message: "does not match its type" };
  }

  private compiled(schema: JsonSchema): ValidateFunction | null {
    let v = this.cache.get(schema);
    if (v === undefined) {
      try {
        v = this.ajv.compile(rebase(schema));
      } catch (err) {
        // A schema this validator cannot compile checks nothing (and says so once).
        process.stderr.write(`nbox serving: a parameter schema could not be compiled, its values are not checked: ${(err as Error).message}\n`);
        v = null;
      }
      this.cache.set(schema, v);
    }
    return v;
  }
}

/** `{ $ref: "#/$defs/X" }` outside the defs document points into it. */
function rebase(s: unknown): any {
  if (Array.isArray(s)) return s.map(rebase);
  if (s === null || typeof s !== "object") return s;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) out[k] = k === "$ref" && typeof v === "string" && v.startsWith("#/$defs/") ? DEFS_ID + v : rebase(v);
  return out;
}

/** `/notes/0/title` → `.notes[0].title`. */
function pointerToPath(pointer: string): string {
  if (!pointer) return "";
  return pointer
    .split("/")
    .slice(1)
    .map((raw) => {
      const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
      return /^\d+$/.test(seg) ? `[${seg}]` : /^[A-Za-z_$][\w$]*$/.test(seg) ? `.${seg}` : `[${JSON.stringify(seg)}]`;
    })
    .join("");
}

function explain(e: ErrorObject, defs: Record<string, JsonSchema>): string {
  const got = ` (got ${preview(e.data)})`;
  switch (e.keyword) {
    case "required":
      return `is missing the required field "${(e.params as { missingProperty: string }).missingProperty}"`;
    case "enum":
      return `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(", ")}${got}`;
    case "const":
      return `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}${got}`;
    case "format":
      return `must be ${(e.params as { format: string }).format === "date-time" ? "a date (ISO 8601 string)" : `a ${(e.params as { format: string }).format} string`}${got}`;
    case "anyOf":
    case "oneOf":
      return `must be ${describe(e.parentSchema as JsonSchema, defs)}${got}`;
    default:
      return `${e.message ?? "does not match its type"}${got}`;
  }
}

function preview(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** A short reading of a schema for messages: `string`, `Note`, `array of number`, `"a" or "b"`. */
export function describe(s: JsonSchema | undefined, defs: Record<string, JsonSchema>, depth = 0): string {
  if (!s || depth > 3) return "a value";
  if (typeof s.$ref === "string") return s.$ref.replace(/^.*#\/\$defs\//, "");
  if (typeof s[NBOX_TYPE_KEY] === "string") return s[NBOX_TYPE_KEY] === "Date" ? "a date (ISO 8601 string)" : s[NBOX_TYPE_KEY] === "bigint" ? "an integer string" : String(s[NBOX_TYPE_KEY]);
  if ("const" in s) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(" or ");
  if (Array.isArray(s.anyOf)) return (s.anyOf as JsonSchema[]).map((x) => describe(x, defs, depth + 1)).join(" or ");
  if (s.type === "array") return s.items ? `array of ${describe(s.items as JsonSchema, defs, depth + 1)}` : "array";
  if (typeof s.type === "string") return s.type;
  return "a value";
}
