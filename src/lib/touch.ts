import { utimes } from "node:fs/promises";

/** Set a file's or folder's mtime to `now` (a "last used" stamp). false when it does not exist. */
export async function touch(path: string, now = Date.now()): Promise<boolean> {
  const t = new Date(now);
  try {
    await utimes(path, t, t);
    return true;
  } catch (err) {
    // Another user's cache we may read but not stamp: it is there, which is all the caller asks.
    return (err as NodeJS.ErrnoException).code !== "ENOENT";
  }
}
