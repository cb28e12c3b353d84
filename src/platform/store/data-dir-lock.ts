import { processAlive } from "../../lib/process-alive.ts";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { StoreError } from "./errors.ts";

// PGlite is a single-process database: two processes writing one data folder corrupt it.
// A pid file next to it turns that into a clear error instead.
const held = new Set<string>();


/** Take the lock on `dataDir`; returns the release function. */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const dir = path.resolve(dataDir);
  const file = path.join(dir, "pgdata.lock");
  if (held.has(dir)) {
    throw new StoreError("LOCKED", `the store in ${dir} is already open in this process`, "Close it first, or share the Store.");
  }
  await mkdir(dir, { recursive: true });
  try {
    await writeFile(file, String(process.pid), { flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const pid = Number((await readFile(file, "utf8").catch(() => "")).trim());
    // Our own pid in the file is a leftover of an earlier process that had the same pid (containers).
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
      throw new StoreError(
        "LOCKED",
        `the store in ${dir} is in use by process ${pid}`,
        "Stop that process, or point this one at Postgres (--database) to share a store.",
      );
    }
    await writeFile(file, String(process.pid));
  }
  held.add(dir);
  return async () => {
    held.delete(dir);
    await rm(file, { force: true });
  };
}
