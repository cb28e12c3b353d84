import { chmodSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";

/**
 * Write `file` whole or not at all: a crash or power loss mid-write leaves the old file (or none),
 * never half of the new one, and a concurrent writer of the same file never interleaves with this one.
 * With `mode`, the file has exactly that mode, whatever the umask or an earlier file's mode.
 */
export function writeFileAtomic(file: string, data: string, opts: { mode?: number } = {}): void {
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    writeFileSync(tmp, data, opts.mode === undefined ? {} : { mode: opts.mode });
    if (opts.mode !== undefined) chmodSync(tmp, opts.mode);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
