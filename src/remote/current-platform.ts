// The user's record of "the platform I use": written by `nbx up` (a local platform, its token in the
// data folder) and by `nbx login` (a remote one, its token here), so the CLI and SDK find it from any
// folder. Lives in NBOX_HOME (default ~/.nbox), private to the user.
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { NboxError } from "../errors.ts";
import { processAlive } from "../lib/process-alive.ts";
import { writeFileAtomic } from "../lib/write-file-atomic.ts";

export const CURRENT_FILE = "current.json";

/**
 * `nbx up` records where its token file is, and keeps the record it replaced (`previous`): a
 * second `nbx up` on another port must not hide the first once it stops. `nbx login` records the
 * token itself, and replaces everything (the user chose).
 */
export type CurrentPlatform =
  | { source: "up"; url: string; tokenFile: string; pid: number; dataDir: string; writtenAt: string; previous?: CurrentPlatform }
  | { source: "login"; url: string; token: string; writtenAt: string };

// Records of earlier platforms kept under the newest one.
const MAX_KEPT = 8;

/** The record in use: `rec`, else (an `nbx up` that is gone) the newest live one it replaced. */
function liveOf(rec: CurrentPlatform | undefined, depth = 0): CurrentPlatform | undefined {
  if (!rec || depth > MAX_KEPT) return undefined;
  if (rec.source === "login" || processAlive(rec.pid)) return rec;
  return liveOf(rec.previous, depth + 1);
}

/** `rec` with only live platforms under it (at most MAX_KEPT). */
function keptChain(rec: CurrentPlatform | undefined, depth = 0): CurrentPlatform | undefined {
  const live = liveOf(rec);
  if (!live || depth >= MAX_KEPT) return undefined;
  if (live.source === "login") return live;
  const previous = keptChain(live.previous, depth + 1);
  const { previous: _dropped, ...own } = live;
  return previous ? { ...own, previous } : own;
}

export function nboxHome(): string {
  return process.env.NBOX_HOME || join(homedir(), ".nbox");
}

export function currentFile(): string {
  return join(nboxHome(), CURRENT_FILE);
}

/** Write the record atomically (temp + rename), readable by this user only. An `nbx up` keeps the live record it replaces under it. */
export function writeCurrentPlatform(record: CurrentPlatform): string {
  if (record.source === "up") {
    let before: CurrentPlatform | undefined;
    try {
      before = keptChain(readRecord());
    } catch {
      // A torn or foreign file is replaced.
    }
    if (before && !(before.source === "up" && before.pid === record.pid)) record = { ...record, previous: before };
  }
  return storeRecord(record);
}

function storeRecord(record: CurrentPlatform): string {
  mkdirSync(nboxHome(), { recursive: true, mode: 0o700 });
  const file = currentFile();
  writeFileAtomic(file, JSON.stringify(record, null, 2) + "\n", { mode: 0o600 });
  return file;
}

/**
 * This `nbx up` stops: if the record names it, the platform it replaced (still running) is the
 * current one again, else the record goes. (Another platform may have replaced it meanwhile.)
 */
export function clearCurrentPlatform(pid: number): void {
  const rec = readRecord();
  if (rec?.source !== "up" || rec.pid !== pid) return;
  const previous = keptChain(rec.previous);
  if (previous) storeRecord(previous);
  else rmSync(currentFile(), { force: true });
}

export function forgetCurrentPlatform(): boolean {
  const file = currentFile();
  if (!existsSync(file)) return false;
  rmSync(file, { force: true });
  return true;
}

function readRecord(): CurrentPlatform | undefined {
  const file = currentFile();
  if (!existsSync(file)) return undefined;
  try {
    const rec = JSON.parse(readFileSync(file, "utf8")) as CurrentPlatform;
    if (typeof rec?.url === "string" && (rec.source === "up" || rec.source === "login")) return rec;
  } catch {
    // fall through: reported below
  }
  throw new NboxError("BAD_REQUEST", `${file} is not a valid platform record`, "Remove it (`nbx logout`), then `nbx up` or `nbx login <url> --token T` again");
}

/** The recorded platform's connection, or undefined when there is no record; a stale record is an error. */
export function readCurrentPlatform(): { url: string; token: string } | undefined {
  const newest = readRecord();
  if (!newest) return undefined;
  // The newest `nbx up` was killed: one it replaced may still run.
  const rec = liveOf(newest) ?? newest;
  if (rec.source === "login") return { url: rec.url, token: rec.token };
  if (!processAlive(rec.pid)) {
    throw new NboxError(
      "UNAVAILABLE",
      `the platform recorded in ${currentFile()} (${rec.url}, nbx up pid ${rec.pid}, data ${rec.dataDir}) is no longer running`,
      "Start it again with `nbx up`, log in to another one with `nbx login <url> --token T`, or set NBOX_URL and NBOX_TOKEN",
    );
  }
  try {
    return { url: rec.url, token: readFileSync(rec.tokenFile, "utf8").trim() };
  } catch (err) {
    throw new NboxError("UNAVAILABLE", `cannot read the token file ${rec.tokenFile} named in ${currentFile()}: ${(err as Error).message}`, "Run `nbx up` again, or set NBOX_URL and NBOX_TOKEN");
  }
}
