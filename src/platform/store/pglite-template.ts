import { cp, mkdir, rename, rm } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { syncTree } from "../../lib/sync-tree.ts";
import { syncFolder } from "../../lib/write-file-atomic.ts";

// PGlite's initdb (WASM) takes seconds; copying an already-initialised cluster takes a fraction
// of that. One empty template per PGlite version is kept in the temp folder and copied into
// every new data folder (migrations still run on the copy, so the schema stays versioned).

/**
 * The installed PGlite's version, read from its package.json (which its `exports` do not list, so it
 * is found from the package's entry point): a template made by another version is never copied.
 */
export function pgliteVersion(): string {
  const require = createRequire(import.meta.url);
  for (let dir = path.dirname(require.resolve("@electric-sql/pglite")); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
    if (pkg.name === "@electric-sql/pglite" && pkg.version) return pkg.version;
  }
  throw new Error("cannot find the version of @electric-sql/pglite (its package.json)");
}

let building: Promise<string> | undefined;

async function templateDir(PGlite: new (dir: string) => { waitReady: Promise<void>; close(): Promise<void> }): Promise<string> {
  const dir = path.join(process.env.NBOX_PGLITE_TEMPLATE_DIR ?? tmpdir(), `nbox-pglite-template-${pgliteVersion()}`);
  if (existsSync(path.join(dir, "PG_VERSION"))) return dir;
  building ??= (async () => {
    const staging = `${dir}.${process.pid}.${Date.now()}`;
    const client = new PGlite(staging);
    await client.waitReady;
    await client.close();
    // Every new data folder is a copy of it: a template cut short by a power cut would make them all unopenable.
    await syncTree(staging);
    try {
      await rename(staging, dir);
    } catch {
      // Another process won the race: its template is as good as ours.
      await rm(staging, { recursive: true, force: true });
    }
    return dir;
  })().finally(() => (building = undefined));
  return building;
}

/** Make `pgdata` an initialised cluster: from the template when it does not exist yet. */
export async function seedPgdata(pgdata: string, PGlite: new (dir: string) => { waitReady: Promise<void>; close(): Promise<void> }): Promise<void> {
  if (existsSync(path.join(pgdata, "PG_VERSION"))) return;
  try {
    const template = await templateDir(PGlite);
    await mkdir(path.dirname(pgdata), { recursive: true });
    const staging = `${pgdata}.seed-${process.pid}`;
    await cp(template, staging, { recursive: true });
    // On the disk before it has its name: after a power cut a data folder that exists opens (its
    // first commits are synced by Postgres, the files they build on only by this).
    await syncTree(staging);
    await rename(staging, pgdata);
    syncFolder(path.dirname(pgdata));
  } catch {
    // Any failure here only costs speed: PGlite runs initdb itself on an empty folder.
  }
}
