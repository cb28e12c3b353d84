// What a worker killed mid-download, mid-prepare or mid-install left in its cache: bundle downloads
// (`bundles/<hash>.<pid>-<tag>.tgz`), staging folders (`versions/.<hash>.prepare-<pid>-<tag>`, and
// the extraction folder next to it) and dependency install folders (`deps/<key>.tmp-<pid>-<tag>`).
// A finished version or install is renamed into place, and a download is deleted once extracted, so
// nothing of these names is ever kept on purpose.
// The cache is not locked: workers on one machine may share it and be writing right now. A
// leftover is removed only when the process named in it is gone and it has not changed for a
// while. Names from before the pid was part of them go by age alone; for installs that age is
// longer than npm may run (10 minutes), since an install folder's own mtime can stand still meanwhile.
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { processAlive } from "../lib/process-alive.ts";
import type { WorkerPaths } from "./paths.ts";

export const LEFTOVER_MIN_AGE_MS = 60_000;
/** Age after which an install folder without a pid in its name is taken as abandoned. */
export const UNNAMED_INSTALL_MIN_AGE_MS = 15 * 60_000;

const DOWNLOAD = /^[0-9a-f]+\.(?:(\d+)-)?[0-9a-f]+\.tgz$/;
const STAGING = /^\..*\.prepare-(?:(\d+)-)?/;
const INSTALL = /^[0-9a-f]+\.tmp-(?:(\d+)-)?[A-Za-z0-9]+$/;

type SweepOptions = { now?: number; minAgeMs?: number; unnamedInstallMinAgeMs?: number };

/** Remove leftovers of dead workers; returns what it removed. Never throws: a sweep must not stop a worker starting. */
export async function sweepCache(paths: WorkerPaths, opts: SweepOptions = {}): Promise<string[]> {
  const now = opts.now ?? Date.now();
  const minAge = opts.minAgeMs ?? LEFTOVER_MIN_AGE_MS;
  const removed: string[] = [];
  const sweep = async (dir: string, pattern: RegExp, unnamedMinAge: number) => {
    const names = await readdir(dir).catch(() => [] as string[]);
    await Promise.all(
      names.map(async (name) => {
        const m = pattern.exec(name);
        if (!m) return;
        const pid = m[1] === undefined ? undefined : Number(m[1]);
        if (pid !== undefined && processAlive(pid)) return;
        const file = join(dir, name);
        try {
          if ((await stat(file)).mtimeMs > now - (pid === undefined ? unnamedMinAge : minAge)) return;
          await rm(file, { recursive: true, force: true });
          removed.push(file);
        } catch {
          // Gone meanwhile (its writer finished or failed), or not ours to remove.
        }
      }),
    );
  };
  await Promise.all([
    sweep(paths.bundles, DOWNLOAD, minAge),
    sweep(paths.versions, STAGING, minAge),
    sweep(paths.deps, INSTALL, Math.max(minAge, opts.unnamedInstallMinAgeMs ?? UNNAMED_INSTALL_MIN_AGE_MS)),
  ]);
  return removed;
}
