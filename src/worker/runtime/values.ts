// How the child runtime puts user values and thrown things on the wire.
import { toPlain, toWire } from "../../codec/index.ts";
import { relativeWireStacks } from "../../codec/stack-paths.ts";
import type { ErrorCode } from "../../errors.ts";
import { ServingError } from "../serving/wire.ts";
import { CallTimeoutError } from "./call-queue.ts";
import type { RuntimeMode, ValueEncoding } from "./protocol.ts";

/** A result in the requested encoding. Throws a CodecError when the value cannot be sent (the user's value). */
export function encodeValue(value: unknown, encoding: ValueEncoding = "tagged"): unknown {
  return encoding === "tagged" ? toWire(value, { path: "result" }) : toPlain(value, { path: "result" });
}

/** The child would not run an operation (the name is not reachable, not a method…): a ServingError without a stack. */
export class Refusal extends ServingError {
  constructor(code: ErrorCode, message: string, name?: string) {
    super(code, message, name);
    // A refusal is the platform's answer, not a place in user code.
    delete (this as { stack?: string }).stack;
  }
}

/** The platform's code for an op that did not run or did not finish; undefined for the user's own errors. */
export function refusalOf(err: unknown): ErrorCode | undefined {
  if (err instanceof Refusal) return err.code;
  if (err instanceof CallTimeoutError) return "TIMEOUT";
  return undefined;
}

/**
 * Codec wire of anything thrown, stacks relative to the bundle. A job turns a non-Error into an
 * Error (its run record stores errors); a serving sends the value itself, so its HTTP answer
 * can say what was thrown (`non-Error thrown: …`).
 */
export function errorWire(err: unknown, mode: RuntimeMode, bundleRoot: string | undefined): unknown {
  let wire: unknown;
  try {
    wire = err instanceof Error || mode === "serving" ? toWire(err) : toWire(new Error(`non-Error thrown: ${String(err)}`));
  } catch {
    wire = err instanceof Error ? toWire(new Error(String(err))) : toWire(mode === "serving" ? describe(err) : new Error(`non-Error thrown: ${describe(err)}`));
  }
  return bundleRoot === undefined ? wire : relativeWireStacks(wire, bundleRoot);
}

function describe(x: unknown): string {
  try {
    return typeof x === "string" ? x : (JSON.stringify(x) ?? String(x));
  } catch {
    return String(x);
  }
}
