import { cp, lstat, mkdir, readdir, rename, rm } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { syncTree } from "../../lib/sync-tree.ts";
import { syncFolder } from "../../lib/write-file-atomic.ts";

// PGlite's initdb (WASM) takes seconds; copying an already-initialised cluster takes a fraction
// of that. One empty template per PGlite version is kept in the user's own temp folder and copied into
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

/**
 * Where the templates live: a folder of this user's in the temp folder that nobody else can write in.
 * In a shared temp folder under a name anyone can guess, another local user could plant a "template"
 * (tables, a token of theirs) that every new data folder of this user would be copied from.
 */
async function templateRoot(): Promise<string> {
  const base = process.env.NBOX_PGLITE_TEMPLATE_DIR ?? tmpdir();
  const uid = process.getuid?.();
  if (uid === undefined) return base; // Windows: the temp folder is the user's own
  const dir = path.join(base, `nbox-pglite-${uid}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await lstat(dir);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new Error(`${dir} is not a folder only this user can write in: no template is taken from it`);
  }
  return dir;
}

/** A template build takes seconds; a staging folder this old was not left by a build still going. */
const STAGING_ABANDONED_MS = 60 * 60_000;

/**
 * Remove the staging folders of template builds a crash or a power cut cut short (`<template>.<pid>.<ms>`,
 * ~40 MB each): their process is gone, or they are far older than any build (the pid was reused).
 * A build under way in another process is left alone.
 */
async function sweepAbandonedBuilds(dir: string): Promise<void> {
  const prefix = `${path.basename(dir)}.`;
  for (const name of await readdir(path.dirname(dir))) {
    const m = name.startsWith(prefix) ? /^(\d+)\.(\d+)$/.exec(name.slice(prefix.length)) : null;
    if (!m || Number(m[1]) === process.pid) continue;
    if (processAlive(Number(m[1])) && Date.now() - Number(m[2]) < STAGING_ABANDONED_MS) continue;
    await rm(path.join(path.dirname(dir), name), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function templateDir(PGlite: new (dir: string) => { waitReady: Promise<void>; close(): Promise<void> }): Promise<string> {
  const dir = path.join(await templateRoot(), `template-${pgliteVersion()}`);
  // Only when a new data folder is seeded: rare, and a readdir of a small folder.
  await sweepAbandonedBuilds(dir).catch(() => {});
  if (existsSync(path.join(dir, "PG_VERSION"))) return dir;
  building ??= (async () => {
    const staging = `${dir}.${process.pid}.${Date.now()}`;
    try {
      const client = new PGlite(staging);
      await client.waitReady;
      await client.close();
      // Every new data folder is a copy of it: a template cut short by a power cut would make them all unopenable.
      await syncTree(staging);
      await rename(staging, dir);
    } catch (err) {
      // Another process won the race (its template is as good as ours), or making one failed.
      await rm(staging, { recursive: true, force: true });
      if (!existsSync(path.join(dir, "PG_VERSION"))) throw err;
    }
    return dir;
  })().finally(() => (building = undefined));
  return building;
}

/**
 * Make `pgdata` an initialised cluster: from the template when it does not exist yet. The caller
 * holds the data folder's lock, so no other process is seeding it.
 */
export async function seedPgdata(pgdata: string, PGlite: new (dir: string) => { waitReady: Promise<void>; close(): Promise<void> }): Promise<void> {
  if (existsSync(path.join(pgdata, "PG_VERSION"))) return;
  const staging = `${pgdata}.seed-${process.pid}`;
  try {
    const template = await templateDir(PGlite);
    await mkdir(path.dirname(pgdata), { recursive: true });
    // What a copy cut short (a crash, a power cut) left, under any process's name: ~40 MB each.
    const leftover = `${path.basename(pgdata)}.seed-`;
    for (const name of await readdir(path.dirname(pgdata))) {
      if (name.startsWith(leftover)) await rm(path.join(path.dirname(pgdata), name), { recursive: true, force: true });
    }
    await cp(template, staging, { recursive: true });
    // On the disk before it has its name: after a power cut a data folder that exists opens (its
    // first commits are synced by Postgres, the files they build on only by this).
    await syncTree(staging);
    await rename(staging, pgdata);
    syncFolder(path.dirname(pgdata));
  } catch {
    // Any failure here only costs speed: PGlite runs initdb itself on an empty folder.
    await rm(staging, { recursive: true, force: true }).catch(() => {});
  }
}
