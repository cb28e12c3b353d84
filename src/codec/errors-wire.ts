// Rebuilding Errors: well-known names get their built-in class (so `instanceof TypeError` still
// works after a round trip); any other name becomes a plain Error with `name` set. Nothing is
// ever looked up by name beyond this fixed table, so a payload cannot make us construct arbitrary code.
type ErrorCtor = new (message?: string) => Error;

const BUILTIN_ERRORS: ReadonlyMap<string, ErrorCtor> = new Map<string, ErrorCtor>([
  ["Error", Error],
  ["TypeError", TypeError],
  ["RangeError", RangeError],
  ["SyntaxError", SyntaxError],
  ["ReferenceError", ReferenceError],
  ["EvalError", EvalError],
  ["URIError", URIError],
]);

function define(target: object, key: string, value: unknown, enumerable: boolean): void {
  Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable });
}

export interface ErrorParts {
  name: string;
  message: string;
  stack: string | undefined;
  hasCause: boolean;
  cause: unknown;
  errors: unknown[] | undefined;
  props: Record<string, unknown> | undefined;
}

export function buildError(p: ErrorParts): Error {
  let err: Error;
  if (p.name === "AggregateError") {
    err = new AggregateError(p.errors ?? [], p.message);
  } else {
    const Ctor = BUILTIN_ERRORS.get(p.name);
    err = Ctor ? new Ctor(p.message) : new Error(p.message);
    if (!Ctor) define(err, "name", p.name, false);
  }
  // Keep the sender's stack (it says where the error really happened); never show a fake local one.
  if (p.stack !== undefined) define(err, "stack", p.stack, false);
  else delete (err as { stack?: string }).stack;
  if (p.hasCause) define(err, "cause", p.cause, false);
  if (p.props) for (const key of Object.keys(p.props)) define(err, key, p.props[key], true);
  return err;
}
