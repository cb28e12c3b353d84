import { chmodSync, closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { open } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

// A temporary file older than this was left by a writer that died (a write takes milliseconds).
const LEFTOVER_AGE_MS = 60_000;

/**
 * Write `file` whole or not at all: a crash or power loss mid-write leaves the old file (or none),
 * never half of the new one, and a concurrent writer of the same file never interleaves with this one.
 * The bytes reach the disk before the rename, and the rename before this returns (without the first,
 * a power loss can leave the new name on an empty file); `durable: false` skips that for caches, which
 * may lose an entry but must never show half of one. With `mode`, the file has exactly that mode,
 * whatever the umask or an earlier file's mode. A durable write also removes what earlier writers
 * of the same file left behind when they died mid-write.
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
  if (durable) {
    syncFolder(dirname(file));
    removeLeftovers(file);
  }
}

/** Temporary files of `file` that writers killed mid-write (power loss, kill -9) left behind. */
function removeLeftovers(file: string): void {
  const dir = dirname(file);
  const name = basename(file);
  const own = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.[0-9a-f]{12}\\.tmp$`);
  let entries: string[];
  try {
    entries = readdirSync(dir).filter((entry) => own.test(entry));
  } catch {
    return; // Best effort: a leftover costs a few bytes, never a wrong read.
  }
  for (const entry of entries) {
    try {
      const path = join(dir, entry);
      if (Date.now() - statSync(path).mtimeMs > LEFTOVER_AGE_MS) rmSync(path, { force: true });
    } catch {
      // Gone already (another writer swept it): the others are still looked at.
    }
  }
}

/**
 * Put a written file's bytes, or a folder's entries, on the disk (before they get their final
 * name). A folder on a file system that cannot sync one (EINVAL) is left as it is.
 */
export async function syncToDisk(p: string): Promise<void> {
  const fh = await open(p, "r");
  try {
    await fh.sync();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EINVAL") throw err;
  } finally {
    await fh.close();
  }
}

/** Put a folder's entries (a file just renamed into it) on the disk. */
export function syncFolder(dir: string): void {
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
