// Argument lists uploaded by reference wait in `<data>/blobs/<sha256>.json` for the trigger that
// names them, and go an hour after their upload (see retention.ts). An upload and the sweep of the
// same file take turns: the sweep looks at a file's age and removes it in one step of its own, so a
// fresh upload that lands on an old copy (the same list sent again) is never removed with it.
import { mkdir, open, readFile, readdir, rename, stat, unlink } from "node:fs/promises";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";

/** Where argument lists uploaded by reference wait for their trigger. */
export const blobsDir = (dataDir: string) => join(dataDir, "blobs");

const blobFile = (dir: string, hash: string) => join(dir, `${hash}.json`);

/** Work on one file, one at a time (upload vs sweep; the file's path is the key). */
const turns = new Map<string, Promise<unknown>>();
function inTurn<T>(file: string, work: () => Promise<T>): Promise<T> {
  const before = turns.get(file) ?? Promise.resolve();
  const mine = before.then(work, work);
  const settled = mine.catch(() => {});
  turns.set(file, settled);
  void settled.then(() => turns.get(file) === settled && turns.delete(file));
  return mine;
}

/** Keep `body` (already checked to hash to `hash`) until it is swept; a crash mid-write leaves only a `.tmp`. */
export async function putBlob(dir: string, hash: string, body: Buffer): Promise<void> {
  const file = blobFile(dir, hash);
  await mkdir(dir, { recursive: true });
  // Two uploads of the same list at once each write a file of their own (a shared one was renamed away under the other).
  const tmp = `${file}.${randomBytes(8).toString("hex")}.tmp`;
  // On disk before it gets its name: after a power cut a blob is whole or absent, never cut short.
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(body);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await inTurn(file, () => rename(tmp, file));
}

/**
 * The text of an uploaded argument list, undefined when there is none (never uploaded, swept, or
 * damaged: a file whose bytes no longer hash to its name is removed, so the next upload stores it again).
 */
export async function readBlob(dir: string, hash: string): Promise<string | undefined> {
  const file = blobFile(dir, hash);
  const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
  if (bytes === undefined) return undefined;
  if (createHash("sha256").update(bytes).digest("hex") === hash) return bytes.toString("utf8");
  await inTurn(file, async () => {
    // An upload that landed meanwhile is whole: only the damaged bytes go.
    const now = await readFile(file).catch(() => undefined);
    if (now && now.equals(bytes)) await unlink(file).catch(() => {});
  });
  return undefined;
}

/**
 * Remove the files of `dir` (uploads and half-written `.tmp`s) last written before `before`; how
 * many went. `judged` runs between a file's age check and its removal (tests slow that moment down).
 */
export async function sweepBlobs(dir: string, before: number, judged?: (file: string) => Promise<void>): Promise<number> {
  const names = await readdir(dir).catch(() => [] as string[]);
  let removed = 0;
  for (const name of names) {
    const file = join(dir, name);
    const gone = await inTurn(file, async () => {
      if ((await stat(file)).mtimeMs >= before) return false;
      await judged?.(file);
      await unlink(file);
      return true;
    }).catch(() => false); // gone meanwhile (another pass)
    if (gone) removed++;
  }
  return removed;
}
