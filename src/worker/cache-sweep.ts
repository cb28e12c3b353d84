// What a worker killed mid-download, mid-prepare or mid-install left in its cache: bundle downloads
// (`bundles/<hash>.<writer>-<tag>.tgz`), staging folders (`versions/<install>/.<hash>.prepare-<writer>-<tag>`,
// and the extraction folder next to it), dependency install folders (`deps/<key>.tmp-<writer>-<tag>`)
// and folders an eviction had moved aside (`.<name>.evict-<writer>-<tag>`, cache-evict.ts), where the
// writer is `<pid>@<host>` (src/lib/writer-tag.ts).
// A finished version or install is renamed into place, and a download is deleted once extracted, so
// nothing of these names is ever kept on purpose.
// The cache is not locked: workers may share it and be writing right now. A leftover is removed
// only when the process named in it (pid and machine) is gone and it has not changed for a while.
// Names from before the writer was part of them, and names written on another machine sharing the
// folder, go by age alone, longer than npm may run (10 minutes).
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { processAlive } from "../lib/process-alive.ts";
import { localWriterPid, WRITER_PATTERN } from "../lib/writer-tag.ts";
import { versionParents } from "./cache-evict.ts";
import type { WorkerPaths } from "./paths.ts";

export const LEFTOVER_MIN_AGE_MS = 60_000;
/**
 * Age after which a leftover whose writer cannot be asked (no pid in its name, or the pid of another
 * machine sharing the folder) is taken as abandoned: longer than npm may run, since a folder's own
 * mtime can stand still while its writer waits for an install.
 */
export const UNCHECKED_MIN_AGE_MS = 15 * 60_000;

const DOWNLOAD = new RegExp(String.raw`^[0-9a-f]+\.${WRITER_PATTERN}[0-9a-f]+\.tgz$`);
const STAGING = new RegExp(String.raw`^\..*\.(?:prepare|evict)-${WRITER_PATTERN}`);
const EVICTING = new RegExp(String.raw`^\..*\.evict-${WRITER_PATTERN}`);
const INSTALL = new RegExp(String.raw`^[0-9a-f]+\.tmp-${WRITER_PATTERN}[A-Za-z0-9]+$`);

type SweepOptions = { now?: number; minAgeMs?: number; uncheckedMinAgeMs?: number };

/** Remove leftovers of dead workers; returns what it removed. Never throws: a sweep must not stop a worker starting. */
export async function sweepCache(paths: WorkerPaths, opts: SweepOptions = {}): Promise<string[]> {
  const now = opts.now ?? Date.now();
  const minAge = opts.minAgeMs ?? LEFTOVER_MIN_AGE_MS;
  const removed: string[] = [];
  const unchecked = Math.max(minAge, opts.uncheckedMinAgeMs ?? UNCHECKED_MIN_AGE_MS);
  const sweep = async (dir: string, pattern: RegExp) => {
    const names = await readdir(dir).catch(() => [] as string[]);
    await Promise.all(
      names.map(async (name) => {
        const m = pattern.exec(name);
        if (!m) return;
        // A writer of another machine sharing the folder cannot be asked about: its leftovers go by age alone.
        const pid = localWriterPid(m[1], m[2]);
        if (pid !== undefined && processAlive(pid)) return;
        const file = join(dir, name);
        try {
          if ((await stat(file)).mtimeMs > now - (pid === undefined ? unchecked : minAge)) return;
          await rm(file, { recursive: true, force: true });
          removed.push(file);
        } catch {
          // Gone meanwhile (its writer finished or failed), or not ours to remove.
        }
      }),
    );
  };
  await Promise.all([
    sweep(paths.bundles, DOWNLOAD),
    // Every install's folder, and `versions/` itself, where older releases staged.
    ...(await versionParents(paths)).map((dir) => sweep(dir, STAGING)),
    sweep(paths.deps, INSTALL),
    sweep(paths.deps, EVICTING),
  ]);
  return removed;
}
