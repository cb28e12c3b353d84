// OpenAPI 3.1 document of one serving (GET /openapi.json), from its live surface and the parameter
// and result schemas recorded at deploy (TypeScript types as JSON Schema). It describes the plain
// JSON exchange any HTTP client gets; the SDK's tagged encoding is mentioned, not modelled.
import { ERROR_CODES } from "../../errors.ts";
import type { FnSchemas, JsonSchema, SchemaSet } from "../../schema/types.ts";
import type { MethodInfo, WhoAreYou } from "../runtime/surface.ts";
import { TAGGED_JSON } from "./wire.ts";

const ERROR_REF = { $ref: "#/components/schemas/nbox.ServingError" };
const errorResponse = (description: string) => ({ description, content: { "application/json": { schema: ERROR_REF } } });

const ERRORS = {
  "400": errorResponse("Wrong number of arguments, or an argument that does not match its parameter's type (BAD_ARGS), or a malformed body (BAD_REQUEST)"),
  "401": errorResponse("Missing or invalid token (UNAUTHORIZED)"),
  "403": errorResponse("Token of another serving or workspace (FORBIDDEN)"),
  "404": errorResponse("No such (public) method or field (NOT_FOUND)"),
  "413": errorResponse("Body too large (PAYLOAD_TOO_LARGE)"),
  "500": errorResponse("The method threw (USER_CODE): the error's name, message and stack (paths relative to the bundle)"),
  "503": errorResponse("The serving is not running, or its process died during the call (UNAVAILABLE, WORKER_CRASHED)"),
  "504": errorResponse("The call did not finish within the serving's timeout (TIMEOUT)"),
};

const SERVING_ERROR: JsonSchema = {
  type: "object",
  properties: {
    ok: { const: false },
    error: {
      type: "object",
      properties: { code: { enum: [...ERROR_CODES] }, name: { type: "string" }, message: { type: "string" }, stack: { type: "string" } },
      required: ["code", "name", "message"],
    },
  },
  required: ["ok", "error"],
};

const DESCRIPTION = [
  "Call the served object over plain HTTP with JSON: POST /call/<method> with `{ \"args\": [...] }` answers `{ \"ok\": true, \"value\": ... }`, failures `{ \"ok\": false, \"error\": { code, name, message, stack? } }`.",
  "Values are plain JSON: undefined is left out (null inside arrays), a Date is an ISO 8601 string, a Set an array, a Map an object (or [[key, value], ...] when a key is not a string), a bigint a decimal string, bytes a base64 string, an Error { name, message }; NaN and ±Infinity are sent as null.",
  "Arguments are plain JSON too, rebuilt into the declared types (a date string into a Date, …); null for a parameter that may be left out means not given.",
  `The nbox SDK asks for its tagged encoding instead (Content-Type and Accept ${TAGGED_JSON}), which keeps every JavaScript value as it was.`,
  "A schema marked x-nbox-unrepresentable could not be expressed in JSON Schema (a function, a type parameter, …) and accepts any value; x-nbox-type names the JavaScript type a plain value stands for.",
].join("\n\n");

/** `#/$defs/X` (how schemas are recorded) → `#/components/schemas/X` (where the document keeps them). */
function rebase(s: unknown): any {
  if (Array.isArray(s)) return s.map(rebase);
  if (s === null || typeof s !== "object") return s;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) out[k] = k === "$ref" && typeof v === "string" ? v.replace(/^#\/\$defs\//, "#/components/schemas/") : rebase(v);
  return out;
}

const UNKNOWN_TYPES = { description: "any JSON value: no TypeScript type was recorded for it at deploy" };

/**
 * `args` as tuples: one variant per accepted length (`[title] | [title, body]`), so a generated
 * client types each call exactly; a rest parameter adds its item type after the fixed ones.
 */
function argsSchema(m: MethodInfo, fn: FnSchemas | undefined): JsonSchema {
  const names = m.params.map((p) => (p.rest ? `...${p.name}` : p.optional ? `${p.name}?` : p.name)).join(", ");
  const description = `arguments: [${names}]`;
  const fixed = m.params.filter((p) => !p.rest).length;
  const slot = (i: number): JsonSchema => fn?.params[i] ?? UNKNOWN_TYPES;
  if (m.maxArgs === null) {
    const rest = fn?.rest ?? UNKNOWN_TYPES;
    const prefix = fixed > 0 ? { prefixItems: Array.from({ length: fixed }, (_, i) => slot(i)) } : {};
    return { type: "array", description, ...prefix, items: rest, minItems: m.minArgs };
  }
  if (m.maxArgs === 0) return { type: "array", description, maxItems: 0 };
  const variants: JsonSchema[] = [];
  for (let n = m.minArgs; n <= m.maxArgs; n++) {
    variants.push({ type: "array", prefixItems: Array.from({ length: n }, (_, i) => slot(i)), minItems: n, maxItems: n });
  }
  return variants.length === 1 ? { ...variants[0], description } : { description, anyOf: variants };
}

function argsBody(m: MethodInfo, fn: FnSchemas | undefined) {
  return {
    required: m.minArgs > 0,
    content: { "application/json": { schema: { type: "object", properties: { args: argsSchema(m, fn) }, ...(m.minArgs > 0 ? { required: ["args"] } : {}) } } },
  };
}

/** `{ ok: true, value }` with the result's type; `value` left out for a method that returns nothing. */
function okSchema(value: JsonSchema | null, optional: boolean): JsonSchema {
  if (value === null) return { type: "object", properties: { ok: { const: true } }, required: ["ok"] };
  return { type: "object", properties: { ok: { const: true }, value }, required: optional ? ["ok"] : ["ok", "value"] };
}

function resultOf(m: MethodInfo, fn: FnSchemas | undefined): { value: JsonSchema | null; optional: boolean } {
  if (!fn) return { value: UNKNOWN_TYPES, optional: true };
  if (m.kind === "generator" || m.kind === "asyncGenerator") return { value: { type: "array", items: fn.yields ?? {} }, optional: false };
  if (!fn.returns) return { value: null, optional: true };
  return { value: fn.returns, optional: fn.returnsOptional === true };
}

function callOperation(summary: string, m: MethodInfo, fn: FnSchemas | undefined) {
  const r = resultOf(m, fn);
  return {
    post: {
      summary,
      requestBody: argsBody(m, fn),
      responses: { "200": { description: "The result", content: { "application/json": { schema: okSchema(r.value, r.optional) } } }, ...ERRORS },
    },
  };
}

export function openApiFor(who: WhoAreYou, serverUrl: string, schemas?: SchemaSet) {
  const paths: Record<string, Record<string, unknown>> = {
    "/": { get: { summary: "Health", responses: { "200": { description: "ready" } } } },
    "/who_are_you": { get: { summary: "Name, kind, methods, fields, version", responses: { "200": { description: "OK" } } } },
  };
  if (who.forward) paths["/forward"] = callOperation("Call forward()", who.forward, schemas?.forward);
  for (const [name, m] of Object.entries(who.methods)) {
    const streaming = m.kind === "generator" || m.kind === "asyncGenerator";
    const fn = schemas?.methods[name];
    paths[`/call/${name}`] = callOperation(`Call ${name}()${streaming ? " (all items as an array)" : ""}`, m, fn);
    if (streaming) {
      const line = { anyOf: [okSchema(fn?.yields ?? UNKNOWN_TYPES, false), { type: "object", properties: { ok: { const: true }, done: { const: true } }, required: ["ok", "done"] }, ERROR_REF] };
      paths[`/stream/${name}`] = {
        post: {
          summary: `Stream ${name}() as NDJSON lines { ok, value } … { ok, done }`,
          requestBody: argsBody(m, fn),
          responses: { "200": { description: "One JSON object per line", content: { "application/x-ndjson": { schema: line } } }, ...ERRORS },
        },
      };
    }
  }
  for (const f of who.fields) {
    const schema = schemas?.fields[f] ?? UNKNOWN_TYPES;
    paths[`/attr/${f}`] = {
      get: { summary: `Read ${f}`, responses: { "200": { description: "The field's value", content: { "application/json": { schema: okSchema(schema, true) } } }, ...ERRORS } },
      put: {
        summary: `Set ${f}`,
        requestBody: { required: true, content: { "application/json": { schema: { type: "object", properties: { value: schema }, required: ["value"] } } } },
        responses: { "200": { description: "Set", content: { "application/json": { schema: okSchema(null, true) } } }, ...ERRORS },
      },
    };
  }
  const notes = schemas ? (schemas.notes ?? []) : ["No TypeScript types were recorded at deploy: arguments and results are described as any JSON value."];
  return {
    openapi: "3.1.0",
    info: { title: `nbox serving ${who.name}`, version: who.version, description: [DESCRIPTION, ...notes].join("\n\n") },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: { ...rebase(schemas?.defs ?? {}), "nbox.ServingError": SERVING_ERROR },
    },
    security: [{ bearer: [] }],
    paths: rebase(paths),
  };
}
