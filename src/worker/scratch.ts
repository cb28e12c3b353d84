// A private, throw-away folder per user process: its HOME, its TMPDIR, and (servings) the socket
// it listens on. Named `<platform pid>-<random>` so a later start can sweep what a killed platform
// left behind without touching the folders of another platform sharing the cache.
import { mkdirSync, mkdtempSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { processAlive } from "../lib/process-alive.ts";

export interface Scratch {
  dir: string;
  home: string;
  tmp: string;
}

export function createScratch(root: string): Scratch {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const dir = mkdtempSync(join(root, `${process.pid}-`));
  const s = { dir, home: join(dir, "home"), tmp: join(dir, "tmp") };
  mkdirSync(s.home, { mode: 0o700 });
  mkdirSync(s.tmp, { mode: 0o700 });
  return s;
}

export function removeScratch(s: Scratch): Promise<void> {
  return rm(s.dir, { recursive: true, force: true }).catch(() => {});
}

/** Remove scratch folders whose platform process is gone. */
export async function sweepScratch(root: string): Promise<void> {
  const names = await readdir(root).catch(() => [] as string[]);
  await Promise.all(
    names.map(async (name) => {
      const pid = Number(/^(\d+)-/.exec(name)?.[1]);
      if (pid > 0 && pid !== process.pid && !processAlive(pid)) await rm(join(root, name), { recursive: true, force: true }).catch(() => {});
    }),
  );
}
