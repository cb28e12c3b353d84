// A package a compiled module imports is left to Node, which loads it as it is: one that only loads
// through the TypeScript loader (its entry is TypeScript, or Node does not find it) keeps the loader
// for the whole version, or its processes would fail at their start. Found with Node's own
// resolvers, from the importing module, with the conditions of its module system.
import { createRequire, isBuiltin } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { KeepLoader } from "./keep-loader.ts";

const TYPESCRIPT = /\.(?:ts|tsx|mts|cts)$/;

/** Throws when package `specifier`, imported by module `from` (named `name`), would not load without the loader. */
export function checkDependency(from: string, name: string, specifier: string, format: "esm" | "cjs"): void {
  if (isBuiltin(specifier)) return;
  let resolved: string;
  try {
    // The parent argument needs --experimental-import-meta-resolve on Node 20 (compile-version.ts sets it).
    resolved = format === "cjs" ? createRequire(from).resolve(specifier) : fileURLToPath(import.meta.resolve(specifier, pathToFileURL(from).href));
  } catch {
    throw new KeepLoader(`${name} imports "${specifier}", which plain Node does not find (the loader may)`);
  }
  if (TYPESCRIPT.test(resolved)) throw new KeepLoader(`${name} imports "${specifier}", a package whose module is TypeScript`);
}
