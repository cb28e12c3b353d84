// Packages a compiled module imports are left to Node, which loads them as they are. A package that
// only loads through the TypeScript loader keeps the loader for the whole version, or its processes
// would fail at their start: one whose module is TypeScript, one plain Node does not find, or an ES
// module package whose own imports only the loader completes (`./util` without its extension, a
// folder, JSON without `with { type: "json" }`). Found with Node's own resolvers, from the importing
// module with the conditions of its module system; a package's ES modules are read with a lexer
// (linear: packages can be large). CommonJS inside packages is left alone: Node's require finds
// extensionless files itself.
import { readFileSync, statSync } from "node:fs";
import { createRequire, isBuiltin } from "node:module";
import { basename, dirname, extname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parse as lexImports } from "es-module-lexer/js";
import { packageTypeAt } from "../../lib/package-type.ts";
import { KeepLoader } from "./keep-loader.ts";

const TYPESCRIPT = /\.(?:ts|tsx|mts|cts)$/;
/** Enough for any real dependency tree's ES modules; past it the rest is left to Node unread. */
const MAX_FILES = 20_000;
const MAX_FILE_BYTES = 8 * 1024 * 1024;

export class DependencyCheck {
  /** Package files already read (or queued). */
  private readonly seen = new Set<string>();
  /** Whether each folder's `.js` files are ES modules (nearest package.json). */
  private readonly esmFolders = new Map<string, boolean>();

  /** Throws when package `specifier`, imported by module `from` (named `name`), would not load without the loader. */
  check(from: string, name: string, specifier: string, format: "esm" | "cjs"): void {
    if (isBuiltin(specifier)) return;
    const resolved = resolvePackage(from, specifier, format);
    if (resolved === undefined) throw new KeepLoader(`${name} imports "${specifier}", which plain Node does not find (the loader may)`);
    if (TYPESCRIPT.test(resolved)) throw new KeepLoader(`${name} imports "${specifier}", a package whose module is TypeScript`);
    this.walk(resolved, specifier);
  }

  /** Read the ES modules a package's module reaches, in it and the packages it imports. */
  private walk(first: string, pkg: string): void {
    const queue = [first];
    for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
      if (this.seen.has(file) || this.seen.size >= MAX_FILES || !this.isEsm(file)) continue;
      this.seen.add(file);
      let text: string;
      try {
        if (statSync(file).size > MAX_FILE_BYTES) continue;
        text = readFileSync(file, "utf8");
      } catch {
        continue;
      }
      let imports: ReturnType<typeof lexImports>[0];
      try {
        [imports] = lexImports(text);
      } catch {
        continue; // Node will say what is wrong with it, loader or not
      }
      const url = pathToFileURL(file).href;
      for (const imp of imports) {
        const spec = imp.n;
        if (spec === undefined || imp.d === -2 || isBuiltin(spec)) continue;
        const at = file.lastIndexOf("node_modules/");
        const where = `package "${pkg}" (${at === -1 ? basename(file) : file.slice(at + 13)}) imports "${spec}"`;
        if (spec.startsWith("./") || spec.startsWith("../")) {
          const target = fileURLToPath(new URL(spec, url));
          if (!isFile(target)) {
            // An import() that is not there may be an optional part the package tries and catches.
            if (imp.d > -1) continue;
            throw new KeepLoader(`${where}, which only the loader completes to a file`);
          }
          if (TYPESCRIPT.test(target)) throw new KeepLoader(`${where}, a TypeScript module`);
          if (extname(target) === ".json" && imp.a === -1) throw new KeepLoader(`${where} without with { type: "json" }, which only the loader allows`);
          queue.push(target);
        } else if (!spec.includes(":")) {
          const target = resolvePackage(file, spec, "esm");
          // A package it cannot find fails the same way through the loader: not the compile's business.
          if (target === undefined) continue;
          if (TYPESCRIPT.test(target)) throw new KeepLoader(`${where}, a package whose module is TypeScript`);
          queue.push(target);
        }
      }
    }
  }

  private isEsm(file: string): boolean {
    const ext = extname(file);
    if (ext === ".mjs") return true;
    if (ext !== ".js") return false;
    return this.esmFolder(dirname(file));
  }

  private esmFolder(dir: string): boolean {
    let v = this.esmFolders.get(dir);
    if (v !== undefined) return v;
    const pkg = join(dir, "package.json");
    if (isFile(pkg)) {
      try {
        v = packageTypeAt(pkg) === "module";
      } catch {
        v = false;
      }
    } else v = dirname(dir) === dir ? false : this.esmFolder(dirname(dir));
    this.esmFolders.set(dir, v);
    return v;
  }
}

/** Where Node finds package `specifier` from module `from`; undefined when it does not. */
function resolvePackage(from: string, specifier: string, format: "esm" | "cjs"): string | undefined {
  try {
    // The parent argument needs --experimental-import-meta-resolve on Node 20 (compile-version.ts sets it).
    const found = format === "cjs" ? createRequire(from).resolve(specifier) : import.meta.resolve(specifier, pathToFileURL(from).href);
    return found.startsWith("file:") ? fileURLToPath(found) : found;
  } catch {
    return undefined;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
