// Where an import of one of the bundle's own modules leads, found as the loader finds it (an
// import of `./x.js` finds `x.ts`, one without an extension finds the one module it can mean, a
// folder its index), while touching nothing outside the version's folder: a path is checked by its
// name before anything is looked up, and a link on the way ends the compile whatever it points at.
// Where the loader's choice would depend on an order (both `x.js` and `x.ts` exist), the compile
// does not guess: it keeps the loader.
import { lstatSync } from "node:fs";
import { extname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { isInside } from "../../lib/is-inside.ts";
import { KeepLoader } from "./keep-loader.ts";

/** Extensions of modules the compile turns into plain JavaScript. */
export const CODE_EXTENSIONS = [".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs"];
/** The TypeScript files an import written with a JavaScript extension may mean. */
const TS_TWINS: Record<string, string[]> = { ".js": [".ts", ".tsx"], ".jsx": [".tsx"], ".mjs": [".mts"], ".cjs": [".cts"] };

type Kind = "file" | "dir" | undefined;

/** The bundle's module at absolute path `target` (from an import in `from`), or undefined when there is none. */
export function findModule(dir: string, from: string, specifier: string, targetIn: string): string | undefined {
  // Tidied first: a tsconfig path's `*` may carry `..` the matcher leaves in place.
  const target = resolve(targetIn);
  const where = `${relative(dir, from)} imports "${specifier}"`;
  if (!isInside(target, dir) || target === dir) throw new KeepLoader(`${where}, which is outside the bundle`);
  if (relative(dir, target).split(sep).includes("node_modules")) throw new KeepLoader(`${where}, a dependency's file by its path`);
  const kind = (p: string) => kindOf(dir, p);
  const ext = extname(target);
  const pick = (candidates: string[]): string | undefined => {
    const found = candidates.filter((c) => kind(c) === "file");
    if (found.length > 1) throw new KeepLoader(`${where}, which could mean ${found.map((f) => relative(dir, f)).join(" or ")}`);
    return found[0];
  };
  if (kind(target) === "file") {
    if (pick((TS_TWINS[ext] ?? []).map((t) => target.slice(0, -ext.length) + t))) throw new KeepLoader(`${where}, and both it and a TypeScript twin exist`);
    return target;
  }
  if (TS_TWINS[ext]) return pick(TS_TWINS[ext].map((t) => target.slice(0, -ext.length) + t));
  const file = pick(CODE_EXTENSIONS.map((e) => target + e));
  if (file || kind(target) !== "dir") return file;
  if (kind(join(target, "package.json"))) throw new KeepLoader(`${where}, a folder with its own package.json`);
  return pick(CODE_EXTENSIONS.map((e) => join(target, `index${e}`)));
}

/**
 * What is at `path` (inside `dir`): each folder on the way is looked at without following links,
 * so nothing outside the bundle is ever reached, and whether a link's target exists never shows.
 */
export function kindOf(dir: string, pathIn: string): Kind {
  const path = resolve(pathIn);
  const rel = relative(dir, path);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) throw new KeepLoader("the compile was asked about a path outside the bundle");
  let at = dir;
  for (const part of rel.split(sep)) {
    at = join(at, part);
    const st = lstatSync(at, { throwIfNoEntry: false });
    if (!st) return undefined;
    if (st.isSymbolicLink()) throw new KeepLoader(`${relative(dir, at)} is a link`);
    if (at !== path && !st.isDirectory()) return undefined;
    if (at === path) return st.isFile() ? "file" : st.isDirectory() ? "dir" : undefined;
  }
  return undefined;
}
