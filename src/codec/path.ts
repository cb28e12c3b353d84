// Paths are built lazily: walkers never track where they are on the happy path. A fault thrown deep
// inside a value collects path segments as it unwinds through each container's catch block, so
// naming the location costs nothing unless something actually goes wrong.
import { CodecError } from "./codec-error.ts";

/** Internal: a problem found at some nested position; turned into a CodecError at the top. */
export class PathFault {
  /** Segments in reverse order (innermost first), appended while unwinding. */
  readonly segments: string[] = [];
  constructor(
    readonly reason: string,
    /** When true the reason reads as a predicate of the path: "<path> is a function". */
    readonly subjectFirst: boolean,
  ) {}
}

/** Called from a container's catch: add this container's segment to a fault, pass anything else on. */
export function withSegment(err: unknown, segment: string): unknown {
  if (err instanceof PathFault) err.segments.push(segment);
  return err;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

export function keySegment(key: string): string {
  return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

export function indexSegment(i: number): string {
  return `[${i}]`;
}

export function mapValueSegment(key: unknown, i: number): string {
  if (typeof key === "string") return `.get(${JSON.stringify(key)})`;
  if (typeof key === "number" || typeof key === "boolean" || key === null) return `.get(${String(key)})`;
  return `.get(<key #${i}>)`;
}

export function mapKeySegment(i: number): string {
  return `<map key #${i}>`;
}

export function setItemSegment(i: number): string {
  return `<set item #${i}>`;
}

function isStackOverflow(err: unknown): boolean {
  return err instanceof RangeError && /call stack/i.test(err.message);
}

/** Convert whatever a walker threw into the error the caller should see. */
export function finishFault(err: unknown, root: string, verb: "encode" | "decode"): unknown {
  if (err instanceof PathFault) {
    const path = root + err.segments.reverse().join("");
    const message = err.subjectFirst ? `${path} ${err.reason}` : `${err.reason} (at ${path})`;
    return new CodecError(message, { path });
  }
  if (isStackOverflow(err)) {
    return new CodecError(`${root} is nested too deeply to ${verb}`, { path: root, cause: err });
  }
  return err;
}
