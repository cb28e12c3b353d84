// Building blocks of route declarations: JSON bodies and answers, the error answers every route
// shares, and the parameter shapes used by many routes.
import { z } from "@hono/zod-openapi";
import { ErrorEnvelope } from "./schemas.ts";

/** A JSON answer with this schema. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } }) as const;

/** A JSON request body with this schema (`required`: a missing body is a 400 too). */
export const jsonBody = <T extends z.ZodType>(schema: T, required = true) => ({ required, content: { "application/json": { schema } } }) as const;

export const failure = (description: string) => json(ErrorEnvelope, description);

/** The failures any authenticated route may answer. */
export const failures = {
  400: failure("Bad input: names the field and what was expected"),
  401: failure("Missing, invalid or revoked token"),
  403: failure("The token may not do this (another workspace, or not an admin token)"),
  404: failure("Not found"),
  413: failure("Body larger than the platform's limit"),
} as const;

/**
 * An id the platform made (`run_…`, `wrk_…`): letters, digits, `_` and `-`. Anything else (a NUL, a
 * megabyte of text) is refused at the door instead of reaching the store.
 */
export const platformId = (what: string) => z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, `expected ${what} (letters, digits, _ and -, at most 64)`);

export const HASH = /^[0-9a-f]{64}$/;
export const hashParam = (what: string) => z.string().regex(HASH, `expected ${what} (64 lowercase hex characters)`);

/** An integer carried in the query string. */
export const intQuery = (description: string) =>
  z
    .string()
    .regex(/^-?\d+$/, "expected an integer")
    .openapi({ type: "integer", description });

/** A yes/no carried in the query string: `true` or `false`. */
export const boolQuery = (description: string) =>
  z
    .enum(["true", "false"], { error: "expected true or false" })
    .openapi({ type: "boolean", description });
