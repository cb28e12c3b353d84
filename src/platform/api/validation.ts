import type { Context } from "hono";
import { OpenAPIHono, type Hook } from "@hono/zod-openapi";
import type { ZodError } from "zod";
import { NboxError } from "../../errors.ts";
import type { ApiEnv } from "./env.ts";

// Where each validated part of a request is named in messages.
const PART: Record<string, string> = { json: "body", query: "query", param: "params", header: "headers", form: "body", cookie: "cookies" };
// Argument lists are the caller's arguments: a wrong shape there is BAD_ARGS, like an undecodable one.
const ARGUMENT_FIELDS = new Set(["args", "argsRef", "batch"]);

function kindOf(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "string") return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return typeof v;
}

function at(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const k of path) v = v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/** The request part as the validator saw it, to say what was sent instead. */
async function sent(c: Context, target: string): Promise<unknown> {
  if (target === "json") return c.req.json().catch(() => undefined);
  if (target === "query") return c.req.query();
  if (target === "param") return c.req.param();
  return undefined;
}

/** `body.args: expected array, got string "x"` — one line per problem, field first. */
export function describeIssues(error: ZodError, target: string, input: unknown): string {
  return error.issues
    .map((issue) => {
      const field = [PART[target] ?? target, ...issue.path.map(String)].join(".");
      const got = at(input, issue.path);
      if (issue.code === "invalid_type") return `${field}: expected ${issue.expected}, got ${kindOf(got)}`;
      if (issue.code === "unrecognized_keys") return `${field}: unknown field${issue.keys.length === 1 ? "" : "s"} ${issue.keys.join(", ")}`;
      // Messages written in the schemas (or zod's own for sizes and unions) already say what was expected.
      return issue.message.startsWith("expected") && got !== undefined ? `${field}: ${issue.message}, got ${kindOf(got)}` : `${field}: ${issue.message}`;
    })
    .join("; ");
}

/** Turns a failed validation into the API's 400 (thrown, so the one error handler answers it). */
export const validationHook: Hook<unknown, any, any, Promise<void>> = async (result, c) => {
  if (result.success) return;
  const input = await sent(c, result.target);
  const first = result.error.issues[0]?.path[0];
  const code = result.target === "json" && ARGUMENT_FIELDS.has(String(first)) ? "BAD_ARGS" : "BAD_REQUEST";
  throw new NboxError(code, describeIssues(result.error, result.target, input));
};

/** A router for declared routes: every one validates its input and answers bad input with the 400 above. */
export const router = () => new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
