import { fileURLToPath } from "node:url";
import { dirname, join, resolve, sep } from "node:path";

// Frames inside nbox itself are skipped: the interesting frames are the user's code. Compiled
// frames may be shown at their source-mapped paths (src/ instead of dist/), so both count as nbox.
const NBOX_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const NBOX_DIRS = [join(NBOX_ROOT, "src") + sep, join(NBOX_ROOT, "dist") + sep];
const FRAME = /^at (?:(.*?) \()?((?:file:\/\/)?\/[^():]+):(\d+):(\d+)\)?$/;

export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

interface Frame extends SourceLocation {
  fn: string;
}

function userFrames(): Frame[] {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 40;
  const stack = new Error().stack ?? "";
  Error.stackTraceLimit = limit;
  const frames: Frame[] = [];
  for (const line of stack.split("\n").slice(1)) {
    const m = FRAME.exec(line.trim());
    if (!m) continue;
    const file = m[2]!.startsWith("file://") ? fileURLToPath(m[2]!) : m[2]!;
    if (NBOX_DIRS.some((d) => file.startsWith(d)) || file.includes("/node_modules/")) continue;
    frames.push({ fn: m[1] ?? "", file, line: Number(m[3]), column: Number(m[4]) });
  }
  return frames;
}

const strip = ({ file, line, column }: Frame): SourceLocation => ({ file, line, column });

/** The first stack frame in user code: where `operator(...)` was called. */
export function callerLocation(): SourceLocation | undefined {
  const f = userFrames()[0];
  return f && strip(f);
}

/**
 * For an Operator constructor: where the class `className` is defined (its constructor
 * frame, present even for implicit constructors) and where `new` was called.
 */
export function constructionSites(className: string): { definedAt?: SourceLocation; createdAt?: SourceLocation } {
  const frames = userFrames();
  const ctor = frames.find((f) => f.fn === `new ${className}`);
  const created = frames.find((f) => !f.fn.startsWith("new "));
  return { definedAt: ctor && strip(ctor), createdAt: created && strip(created) };
}
