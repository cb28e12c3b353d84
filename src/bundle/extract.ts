// Safe extraction of an untrusted bundle on the platform.
// node-tar silently strips "/" and ".." from entry paths; we want a hard failure instead, so every entry is
// inspected in a listing pass first, then the archive is unpacked into a temp sibling of `dest`, checked again
// (symlinks resolved on disk), and only then renamed into place. A rejected bundle leaves nothing at `dest`.
import { lstat, mkdir, mkdtemp, readFile, readdir, realpath, rename, rm, rmdir } from "node:fs/promises";
import path from "node:path";
import { Parser, Unpack, type ReadEntry } from "tar";
import { ManifestError, UnsafeBundleError } from "./errors.ts";
import { MANIFEST_FILE, validateManifest, type BundleManifest } from "./manifest.ts";

export const DEFAULT_MAX_EXTRACT_BYTES = 1024 * 1024 * 1024;

export type ExtractOptions = {
  /** Refuse archives whose entries add up to more than this many bytes (decompression-bomb guard). Default 1 GiB. */
  maxBytes?: number;
};

const ALLOWED_TYPES = new Set(["File", "OldFile", "ContiguousFile", "Directory", "SymbolicLink", "Link"]);

type Listed = { path: string; type: string };

/** Extracts `tarball` (gzip or plain tar) to `dest` (must not exist, or be an empty folder); returns the validated manifest. */
export async function extractBundle(tarball: Buffer, dest: string, opts: ExtractOptions = {}): Promise<BundleManifest> {
  const absDest = path.resolve(dest);
  const listed = await inspect(tarball, opts.maxBytes ?? DEFAULT_MAX_EXTRACT_BYTES);
  if (!listed.some((e) => e.path === MANIFEST_FILE && e.type !== "Directory")) {
    throw new ManifestError(`bundle has no ${MANIFEST_FILE} at its root`);
  }

  // Temp dir next to dest: same filesystem, so the final rename is atomic.
  await mkdir(path.dirname(absDest), { recursive: true });
  const tmp = await mkdtemp(path.join(path.dirname(absDest), `.${path.basename(absDest)}.extract-`));
  try {
    await unpack(tarball, tmp);
    await checkLinksOnDisk(tmp);
    let raw: string;
    try {
      raw = await readFile(path.join(tmp, MANIFEST_FILE), "utf8");
    } catch {
      throw new ManifestError(`bundle has no readable ${MANIFEST_FILE}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (e) {
      throw new ManifestError(`${MANIFEST_FILE} is not valid JSON: ${(e as Error).message}`);
    }
    const manifest = validateManifest(parsed);
    await moveIntoPlace(tmp, absDest);
    return manifest;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Listing pass: parses every header (no writes), then checks all entries; throws UnsafeBundleError on the first bad one. */
async function inspect(tarball: Buffer, maxBytes: number): Promise<Listed[]> {
  const raw: RawEntry[] = [];
  let total = 0;
  await new Promise<void>((resolve, reject) => {
    // strict: malformed headers / bad checksums are errors, not warnings.
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        entry.resume();
        total += entry.size ?? 0;
        raw.push({ path: entry.path, type: entry.type, linkpath: entry.linkpath });
      },
    });
    parser.on("error", (e: Error) => reject(new UnsafeBundleError(`bundle is not a valid tar archive: ${e.message}`)));
    parser.on("end", () => resolve());
    parser.end(tarball);
  });
  if (total > maxBytes) throw new UnsafeBundleError(`bundle expands to ${total} bytes, over the ${maxBytes} byte limit`);

  // Two passes so the symlink set is complete regardless of entry order.
  const paths = raw.map(checkPath);
  const symlinks = new Set(paths.filter((p, i) => p !== null && raw[i]!.type === "SymbolicLink") as string[]);
  const listed: Listed[] = [];
  raw.forEach((e, i) => {
    const p = paths[i]!;
    if (p === null) return;
    checkLinks(e, p, symlinks);
    listed.push({ path: p, type: e.type });
  });
  return listed;
}

type RawEntry = { path: string; type: string; linkpath?: string };

const unsafe = (e: RawEntry, why: string) =>
  new UnsafeBundleError(`unsafe bundle entry ${JSON.stringify(e.path)}: ${why}`, e.path);

/** Returns the normalised path (null for the archive's root folder entry) or throws if the path/type is unsafe. */
function checkPath(e: RawEntry): string | null {
  if (!ALLOWED_TYPES.has(e.type)) throw unsafe(e, `entry type ${e.type} is not allowed`);
  if (e.path.includes("\0")) throw unsafe(e, "NUL in path");
  if (isAbsoluteAnywhere(e.path)) throw unsafe(e, "absolute path");
  if (e.path.split(/[\\/]/).includes("..")) throw unsafe(e, '".." path segment');
  const p = path.posix.normalize(e.path).replace(/\/+$/, "");
  if (p === "." || p === "") {
    if (e.type === "Directory") return null;
    throw unsafe(e, "empty path");
  }
  return p;
}

/**
 * Entries may not live beneath a symlink from the archive, and link targets must stay inside the bundle
 * without passing through another symlink (a chain like q -> ".", p -> "q/.." looks inside but is not).
 * Bundles from packBundle always pass: it stores targets computed from real (symlink-free) paths.
 */
function checkLinks(e: RawEntry, p: string, symlinks: Set<string>): void {
  const parts = p.split("/");
  for (let i = 1; i < parts.length; i++) {
    if (symlinks.has(parts.slice(0, i).join("/"))) throw unsafe(e, "path goes through a symlink in the bundle");
  }
  if (e.type !== "SymbolicLink" && e.type !== "Link") return;
  const link = e.linkpath ?? "";
  if (link === "" || link.includes("\0")) throw unsafe(e, "empty link target");
  if (isAbsoluteAnywhere(link)) throw unsafe(e, `link target ${JSON.stringify(link)} is absolute`);
  // Symlink targets are relative to the link's folder; hardlink targets to the archive root.
  const stack = e.type === "SymbolicLink" ? parts.slice(0, -1) : [];
  const through = () => unsafe(e, `link target ${JSON.stringify(link)} goes through a symlink in the bundle`);
  for (const seg of link.split(/[\\/]/)) {
    if (seg === "" || seg === ".") continue;
    // Stepping into or out of a folder that is itself a symlink from the archive: refuse.
    if (stack.length > 0 && symlinks.has(stack.join("/"))) throw through();
    if (seg === "..") {
      if (stack.length === 0) throw unsafe(e, `link target ${JSON.stringify(link)} escapes the bundle`);
      stack.pop();
    } else {
      stack.push(seg);
    }
  }
}

function isAbsoluteAnywhere(p: string): boolean {
  return p.startsWith("/") || p.startsWith("\\") || /^[a-zA-Z]:/.test(p);
}

async function unpack(tarball: Buffer, cwd: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const u = new Unpack({
      cwd,
      strict: true, // any warning (e.g. refusing to write through a symlink) fails the extraction
      noMtime: true, // extracted files get "now", not the bundle's fixed epoch mtime
      preserveOwner: false,
    });
    u.on("error", (e: Error & { code?: unknown }) => {
      // node-tar's own refusals (TAR_* warnings promoted by strict, symlink traversal) mean an unsafe archive;
      // anything else (ENOSPC, EACCES, ...) is an environment problem and is passed through unchanged.
      const tarRefusal = (typeof e.code === "string" && e.code.startsWith("TAR_")) || e.name === "SymlinkError";
      reject(tarRefusal ? new UnsafeBundleError(`extraction refused: ${e.message}`) : e);
    });
    u.on("close", () => resolve());
    u.end(tarball);
  });
}

/** Second line of defence: every symlink on disk must resolve inside the extracted tree (catches link chains). */
async function checkLinksOnDisk(root: string): Promise<void> {
  const realRoot = await realpath(root);
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const abs = path.join(dir, e.name);
      if (e.isSymbolicLink()) {
        let real: string;
        try {
          real = await realpath(abs);
        } catch {
          continue; // dangling: points at nothing, harmless
        }
        const rel = path.relative(realRoot, real);
        if (rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
          throw new UnsafeBundleError(`unsafe bundle entry ${JSON.stringify(path.relative(root, abs))}: symlink escapes the bundle`);
        }
      } else if (e.isDirectory()) {
        await walk(abs);
      } else if (!e.isFile()) {
        throw new UnsafeBundleError(`unsafe bundle entry ${JSON.stringify(path.relative(root, abs))}: not a file`);
      }
    }
  };
  await walk(root);
}

async function moveIntoPlace(tmp: string, dest: string): Promise<void> {
  const st = await lstat(dest).catch(() => null);
  if (st) {
    if (!st.isDirectory() || (await readdir(dest)).length > 0) {
      throw new Error(`cannot extract bundle: ${dest} already exists and is not an empty folder`);
    }
    await rmdir(dest);
  }
  await rename(tmp, dest);
}
