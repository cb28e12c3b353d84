// The project root is the nearest folder with a package.json at or above the file that defines the operator.
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Returns the nearest folder containing package.json at or above `file`'s folder. Accepts a path or file:// URL. */
export function findProjectRoot(file: string): string {
  const abs = path.resolve(file.startsWith("file:") ? fileURLToPath(file) : file);
  // If we were handed a folder, start there; otherwise start at the file's folder.
  let dir = isDirectory(abs) ? abs : path.dirname(abs);
  for (;;) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(
    `no package.json found at or above ${path.dirname(abs)}: nbox bundles the nearest folder with a package.json ` +
      `(run \`npm init -y\` in your project folder, or pass { root } explicitly)`,
  );
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
