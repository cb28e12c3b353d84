import { chmodSync, closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname } from "node:path";

/**
 * Write `file` whole or not at all: a crash or power loss mid-write leaves the old file (or none),
 * never half of the new one, and a concurrent writer of the same file never interleaves with this one.
 * The bytes reach the disk before the rename, and the rename before this returns (without the first,
 * a power loss can leave the new name on an empty file); `durable: false` skips that for caches, which
 * may lose an entry but must never show half of one. With `mode`, the file has exactly that mode,
 * whatever the umask or an earlier file's mode.
 */
export function writeFileAtomic(file: string, data: string, opts: { mode?: number; durable?: boolean } = {}): void {
  const durable = opts.durable ?? true;
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    const fd = openSync(tmp, "w", opts.mode ?? 0o666);
    try {
      writeFileSync(fd, data); // through a descriptor, and all of it (a bare write may stop short)
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (opts.mode !== undefined) chmodSync(tmp, opts.mode);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  if (durable) syncFolder(dirname(file));
}

function syncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Not every file system can sync a folder; the file itself is on disk either way.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
