// CodecError is the only error the codec lets escape for bad input, so callers can catch one class.
// `path` says where in the value the problem is (e.g. "args[0].cb"), when there is one.
export class CodecError extends Error {
  readonly path: string | undefined;

  constructor(message: string, options?: { path?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CodecError";
    this.path = options?.path;
  }
}
Object.defineProperty(CodecError.prototype, "name", { value: "CodecError", writable: true, configurable: true });
