import { processAlive } from "../lib/process-alive.ts";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { NboxError } from "../errors.ts";
import { platformRuntime } from "../runtime-context.ts";
import { currentFile, readCurrentPlatform } from "./current-platform.ts";

/** What `nbx up` writes into its data folder so SDK and CLI can find it. */
export interface PlatformInfo {
  url: string;
  pid: number;
  dataDir: string;
  startedAt: string;
}

export const PLATFORM_FILE = "platform.json";
export const ADMIN_TOKEN_FILE = "admin-token";

export interface Connection {
  url: string;
  token: string;
}

function readPlatform(dataDir: string): Connection | undefined {
  const file = join(dataDir, PLATFORM_FILE);
  if (!existsSync(file)) return undefined;
  const info = JSON.parse(readFileSync(file, "utf8")) as PlatformInfo;
  if (!processAlive(info.pid)) return undefined;
  const token = readFileSync(join(dataDir, ADMIN_TOKEN_FILE), "utf8").trim();
  return { url: info.url, token };
}

/**
 * Where the platform is: explicit options, else `NBOX_URL` + `NBOX_TOKEN`, else a running
 * `nbx up` found via `.nbox/platform.json` in this folder or a parent, then the user's record
 * `~/.nbox/current.json` (written by `nbx up` and `nbx login`). A token given without a URL is
 * used with the platform found so: never the found one's (admin) token in its place.
 * Inside a job or serving only the first two: user code must not pick up files it can reach.
 */
export function discoverPlatform(opts: Partial<Connection> & { cwd?: string } = {}): Connection {
  const url = opts.url ?? process.env.NBOX_URL;
  const token = opts.token ?? process.env.NBOX_TOKEN;
  if (url && token) return { url: url.replace(/\/+$/, ""), token };
  if (url && !token) throw new NboxError("UNAUTHORIZED", `NBOX_URL is set (${url}) but NBOX_TOKEN is not`, "Set NBOX_TOKEN to a token from `nbx token create`");
  const runtime = platformRuntime();
  if (runtime) {
    throw new NboxError(
      "UNAVAILABLE",
      `inside an nbox ${runtime} process the platform is found only through NBOX_URL and NBOX_TOKEN, which the platform sets; they are missing here (discovery through .nbox folders is off)`,
      "Leave NBOX_URL and NBOX_TOKEN as the platform set them, or pass { url, token } explicitly",
    );
  }
  const found = findPlatform(resolve(opts.cwd ?? process.cwd()));
  return token ? { url: found.url, token } : found;
}

/** A running `nbx up` of this folder or a parent, else the user's record. */
function findPlatform(from: string): Connection {
  for (let dir = from; ; ) {
    const found = readPlatform(join(dir, ".nbox"));
    if (found) return found;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  const current = readCurrentPlatform();
  if (current) return current;
  throw new NboxError(
    "UNAVAILABLE",
    `no nbox platform found (NBOX_URL is not set, no .nbox/platform.json of a live \`nbx up\` in this folder or its parents, no ${currentFile()})`,
    "Start one with `npx nbx up`, log in to one with `nbx login <url> --token T`, or set NBOX_URL and NBOX_TOKEN",
  );
}
