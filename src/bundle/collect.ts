// Decides which files of a project go into a bundle: everything under root minus node_modules/.git/.nbox,
// minus .gitignore/.nboxignore rules (gitignore semantics, nested files apply to their own folder) and extra patterns.
// Read-only: never touches the user's folder.
import { readFile, readdir, realpath, stat } from "node:fs/promises";
import path from "node:path";
import ignore, { type Ignore } from "ignore";

/** Folder names that are never bundled, at any depth. */
export const ALWAYS_EXCLUDED: ReadonlySet<string> = new Set(["node_modules", ".git", ".nbox"]);
/** Per-folder ignore files, applied in this order (so .nboxignore can `!`-re-include what .gitignore drops). */
export const IGNORE_FILES = [".gitignore", ".nboxignore"] as const;

export type CollectedFile = {
  /** Posix path relative to root. */
  path: string;
  /** Bytes (0 for symlinks). */
  size: number;
  kind: "file" | "symlink";
  /** Normalised mode: 0o644 or 0o755 for files (so umask/ownership never change the hash), 0o777 for links. */
  mode: number;
  /** For symlinks: relative posix target, always resolving inside root. */
  target?: string;
};

export type CollectOptions = {
  /** Extra gitignore-style patterns, relative to root, applied after the root ignore files. */
  ignore?: string[];
};

export type CollectResult = {
  files: CollectedFile[];
  /** Paths skipped (an ignored folder counts once; its contents are not walked). */
  ignoredCount: number;
  /** The skipped paths themselves (posix, relative; folders end with "/"), for dry-run output. */
  ignored: string[];
};

type Level = { base: string; ig: Ignore };

/** Walks `root` and returns the files to bundle, sorted by path. */
export async function collectFiles(root: string, opts: CollectOptions = {}): Promise<CollectResult> {
  const absRoot = path.resolve(root);
  const realRoot = await realpath(absRoot);
  const files: CollectedFile[] = [];
  const ignored: string[] = [];

  async function walk(dirAbs: string, dirRel: string, parentLevels: Level[]): Promise<void> {
    const levels = [...parentLevels];
    const rules = await readIgnoreRules(dirAbs);
    if (dirRel === "" && opts.ignore?.length) rules.push(...opts.ignore);
    // ignorecase false: gitignore on Linux is case-sensitive, and the bundle must not depend on the client OS.
    if (rules.length > 0) levels.push({ base: dirRel, ig: ignore({ ignorecase: false }).add(rules) });

    const entries = await readdir(dirAbs, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const rel = dirRel === "" ? e.name : `${dirRel}/${e.name}`;
      const abs = path.join(dirAbs, e.name);
      const isDir = e.isDirectory();
      if (ALWAYS_EXCLUDED.has(e.name) || isIgnored(levels, rel, isDir)) {
        ignored.push(isDir ? `${rel}/` : rel);
        continue;
      }
      if (isDir) {
        await walk(abs, rel, levels);
      } else if (e.isFile()) {
        const st = await stat(abs);
        files.push({ path: rel, size: st.size, kind: "file", mode: st.mode & 0o111 ? 0o755 : 0o644 });
      } else if (e.isSymbolicLink()) {
        const target = await insideTarget(abs, dirRel, realRoot);
        if (target === null) ignored.push(rel);
        else files.push({ path: rel, size: 0, kind: "symlink", mode: 0o777, target });
      } else {
        ignored.push(rel); // sockets, fifos, devices: not bundleable
      }
    }
  }

  if (!(await stat(absRoot)).isDirectory()) throw new Error(`bundle root ${absRoot} is not a folder`);
  await walk(absRoot, "", []);
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, ignoredCount: ignored.length, ignored };
}

async function readIgnoreRules(dirAbs: string): Promise<string[]> {
  const rules: string[] = [];
  for (const name of IGNORE_FILES) {
    try {
      rules.push(...(await readFile(path.join(dirAbs, name), "utf8")).split(/\r?\n/));
    } catch {
      // absent (or unreadable) ignore file: no rules from it
    }
  }
  return rules;
}

/** Gitignore precedence: deeper ignore files win, and within one the last matching rule wins. */
function isIgnored(levels: Level[], rel: string, isDir: boolean): boolean {
  let ignoredNow = false;
  for (const { base, ig } of levels) {
    const local = base === "" ? rel : rel.slice(base.length + 1);
    const r = ig.test(isDir ? `${local}/` : local);
    if (r.ignored) ignoredNow = true;
    else if (r.unignored) ignoredNow = false;
  }
  return ignoredNow;
}

/** Returns the link's target as a relative posix path if it resolves inside root, else null (escaping or dangling). */
async function insideTarget(linkAbs: string, dirRel: string, realRoot: string): Promise<string | null> {
  let real: string;
  try {
    real = await realpath(linkAbs);
  } catch {
    return null; // dangling link: nothing to ship
  }
  const relToRoot = path.relative(realRoot, real);
  if (relToRoot === ".." || relToRoot.startsWith(`..${path.sep}`) || path.isAbsolute(relToRoot)) return null;
  // Rewrite to a clean relative target (even if the original was absolute) so it stays valid after extraction.
  const targetPosix = relToRoot.split(path.sep).join("/");
  return path.posix.relative(dirRel, targetPosix) || ".";
}
