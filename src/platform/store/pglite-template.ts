import { cp, mkdir, rename, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";

// PGlite's initdb (WASM) takes seconds; copying an already-initialised cluster takes a fraction
// of that. One empty template per PGlite version is kept in the temp folder and copied into
// every new data folder (migrations still run on the copy, so the schema stays versioned).
const require = createRequire(import.meta.url);
const PGLITE_VERSION: string = (() => {
  try {
    return require("@electric-sql/pglite/package.json").version;
  } catch {
    return "unknown";
  }
})();

let building: Promise<string> | undefined;

async function templateDir(PGlite: new (dir: string) => { waitReady: Promise<void>; close(): Promise<void> }): Promise<string> {
  const dir = path.join(process.env.NBOX_PGLITE_TEMPLATE_DIR ?? tmpdir(), `nbox-pglite-template-${PGLITE_VERSION}`);
  if (existsSync(path.join(dir, "PG_VERSION"))) return dir;
  building ??= (async () => {
    const staging = `${dir}.${process.pid}.${Date.now()}`;
    const client = new PGlite(staging);
    await client.waitReady;
    await client.close();
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
    await rename(staging, pgdata);
  } catch {
    // Any failure here only costs speed: PGlite runs initdb itself on an empty folder.
  }
}
