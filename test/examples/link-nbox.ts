// Makes `import ... from "nbox"` resolve inside examples/<name>/ without `npm install`: links
// examples/<name>/node_modules/nbox -> ../../.. (this repo). node_modules is gitignored, so the
// link is made on demand. Run it directly before `tsc` on a fresh clone:
//   node --import tsx test/examples/link-nbox.ts
import { existsSync, lstatSync, mkdirSync, readdirSync, symlinkSync, unlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const EXAMPLES_DIR = join(REPO_ROOT, "examples");

/** Example project folders (those with a package.json), sorted by name. */
export function exampleDirs(): string[] {
  return readdirSync(EXAMPLES_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(EXAMPLES_DIR, e.name, "package.json")))
    .map((e) => join(EXAMPLES_DIR, e.name))
    .sort();
}

/** Ensure `<exampleDir>/node_modules/nbox` points at this repo; keeps a working link or install. */
export function linkNbox(exampleDir: string): void {
  const link = join(exampleDir, "node_modules", "nbox");
  if (existsSync(join(link, "package.json"))) return;
  mkdirSync(dirname(link), { recursive: true });
  try {
    if (lstatSync(link, { throwIfNoEntry: false })) unlinkSync(link); // a dangling link
    symlinkSync("../../..", link, "dir");
  } catch (err) {
    // Another process linked it at the same moment: fine as long as it resolves now.
    if ((err as NodeJS.ErrnoException).code !== "EEXIST" || !existsSync(join(link, "package.json"))) throw err;
  }
}

export function linkAllExamples(): string[] {
  const dirs = exampleDirs();
  dirs.forEach(linkNbox);
  return dirs;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const dir of linkAllExamples()) console.log(`linked ${join(dir, "node_modules", "nbox")} -> ${REPO_ROOT}`);
}
