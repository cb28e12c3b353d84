// What a worker killed mid-download or mid-prepare left in its cache: bundle downloads
// (`bundles/<hash>.<pid>-<tag>.tgz`) and staging folders (`versions/.<hash>.prepare-<pid>-<tag>`,
// and the extraction folder next to it). A finished version is renamed into place, and a download
// is deleted once extracted, so nothing of these names is ever kept on purpose.
// The cache is not locked: workers on one machine may share it and be writing right now. A
// leftover is removed only when the process named in it is gone and it has not changed for a
// while (names from before the pid was part of them: age alone).
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { processAlive } from "../lib/process-alive.ts";
import type { WorkerPaths } from "./paths.ts";

export const LEFTOVER_MIN_AGE_MS = 60_000;

const DOWNLOAD = /^[0-9a-f]+\.(?:(\d+)-)?[0-9a-f]+\.tgz$/;
const STAGING = /^\..*\.prepare-(?:(\d+)-)?/;

/** Remove leftovers of dead workers; returns what it removed. Never throws: a sweep must not stop a worker starting. */
export async function sweepCache(paths: WorkerPaths, opts: { now?: number; minAgeMs?: number } = {}): Promise<string[]> {
  const before = (opts.now ?? Date.now()) - (opts.minAgeMs ?? LEFTOVER_MIN_AGE_MS);
  const removed: string[] = [];
  const sweep = async (dir: string, pattern: RegExp) => {
    const names = await readdir(dir).catch(() => [] as string[]);
    await Promise.all(
      names.map(async (name) => {
        const m = pattern.exec(name);
        if (!m) return;
        const pid = m[1] === undefined ? undefined : Number(m[1]);
        if (pid !== undefined && processAlive(pid)) return;
        const file = join(dir, name);
        try {
          if ((await stat(file)).mtimeMs > before) return;
          await rm(file, { recursive: true, force: true });
          removed.push(file);
        } catch {
          // Gone meanwhile (its writer finished or failed), or not ours to remove.
        }
      }),
    );
  };
  await Promise.all([sweep(paths.bundles, DOWNLOAD), sweep(paths.versions, STAGING)]);
  return removed;
}
