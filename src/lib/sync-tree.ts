// Put a whole folder written by ordinary writes (an extracted bundle, an npm install) on the disk
// before it is renamed into place and trusted: after a power cut, a folder that has its final name
// then has all of its bytes. Files and folders are synced a few at a time; links are left alone.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { inLanes } from "./lanes.ts";
import { syncToDisk } from "./write-file-atomic.ts";

const AT_ONCE = 8;

/** fsync every file and folder under `dir` (and `dir` itself). */
export async function syncTree(dir: string): Promise<void> {
  const files: string[] = [];
  const folders: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) files.push(p);
    }
    folders.push(d); // after its entries: a folder's own sync records the names in it
  };
  await walk(dir);
  await inLanes(files, AT_ONCE, () => syncToDisk);
  await inLanes(folders, AT_ONCE, () => syncToDisk);
}
