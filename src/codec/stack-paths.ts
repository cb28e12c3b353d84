// Stacks of user-code errors are shown to HTTP callers (serving call errors, job run errors), so
// they must not reveal where things live on the host: the bundle folder, the worker's cache, the
// data folder, the home folder. Frames keep the user's file and line relative to the bundle root
// (`at foo (ops.ts:3:9)`); other frames keep only what helps and leaks no layout.
import { realpathSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { setField } from "./fields.ts";
import { Tag, TAG_KEY } from "./tags.ts";

/** nbox's own package folder (this file is <root>/src/codec/stack-paths.ts). */
const NBOX_ROOT = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/+$/, "");

/** `    at fn (…)`, `    at …`, `    at async …`: one V8 stack frame. */
const FRAME = /^\s+at\s/;
/**
 * An absolute location in a frame: a file URL or a path (spaces allowed), ending where `:line:col`
 * and then `)`, `,` or the end of the line follow. Must start a word, so `node:internal/…` is kept.
 */
const LOCATION = /(?<=^|[\s(])(?:file:\/\/)?\/[^()\n]*?(?=(?::\d+)*(?:\)|,|$))/g;

const rootsCache = new Map<string, string[]>();

/** The bundle folder as given and as resolved through symlinks (module paths are real paths). */
function bundleRoots(bundleRoot: string): string[] {
  let roots = rootsCache.get(bundleRoot);
  if (!roots) {
    const given = path.resolve(bundleRoot);
    let real = given;
    try {
      real = realpathSync(given);
    } catch {
      // Gone already: the given path is all there is.
    }
    roots = [...new Set([given, real])].filter((r) => r !== "/");
    rootsCache.set(bundleRoot, roots);
  }
  return roots;
}

/** One absolute location → bundle-relative, `node_modules/…`, `<nbox>/…`, or `<host>/<file name>`. */
function hostFree(location: string, roots: string[]): string {
  let p = location;
  if (p.startsWith("file://")) {
    try {
      p = fileURLToPath(p);
    } catch {
      return "<host>";
    }
  }
  for (const root of roots) if (p.startsWith(`${root}/`)) return p.slice(root.length + 1);
  const nm = p.lastIndexOf("/node_modules/");
  if (nm >= 0) return p.slice(nm + 1);
  if (p.startsWith(`${NBOX_ROOT}/`)) return `<nbox>/${p.slice(NBOX_ROOT.length + 1)}`;
  return `<host>/${path.basename(p)}`;
}

/** Drop known folder prefixes anywhere in a line (a SyntaxError's `file:3` header, a message). */
function dropPrefixes(line: string, roots: string[]): string {
  let out = line;
  for (const root of roots) out = out.split(`${pathToFileURL(root).href}/`).join("").split(`${root}/`).join("");
  return out.split(`${pathToFileURL(NBOX_ROOT).href}/`).join("<nbox>/").split(`${NBOX_ROOT}/`).join("<nbox>/");
}

/**
 * Rewrite a stack so that it names no host path: frames in the bundle become relative to
 * `bundleRoot` (`ops.ts:3:9`), dependencies `node_modules/<pkg>/…`, nbox's own files `<nbox>/…`,
 * anything else `<host>/<file name>`; `node:internal/…` and `<anonymous>` stay as they are.
 * The one place this is done, for job and serving errors alike.
 * @example relativeStack("Error: x\n    at f (file:///tmp/b/ops.ts:3:9)", "/tmp/b") // "Error: x\n    at f (ops.ts:3:9)"
 */
export function relativeStack(stack: string, bundleRoot: string): string {
  const roots = bundleRoots(bundleRoot);
  return stack
    .split("\n")
    .map((line) => (FRAME.test(line) ? line.replace(LOCATION, (loc) => hostFree(loc, roots)) : dropPrefixes(line, roots)))
    .join("\n");
}

/**
 * A codec wire value with `relativeStack` applied to every error in it (causes, aggregated errors,
 * errors inside fields). Returns a copy; the input is not changed.
 */
export function relativeWireStacks(wire: unknown, bundleRoot: string): unknown {
  if (Array.isArray(wire)) return wire.map((w) => relativeWireStacks(w, bundleRoot));
  if (wire === null || typeof wire !== "object") return wire;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(wire)) setField(out, k, relativeWireStacks(v, bundleRoot));
  const body = out.v as Record<string, unknown> | undefined;
  if (out[TAG_KEY] === Tag.error && body && typeof body.stack === "string") body.stack = relativeStack(body.stack, bundleRoot);
  return out;
}

/** A finished span's error stack, rewritten in place: spans are stored and served by the API too. */
export function relativeSpanStack(span: { error?: { stack?: string } }, bundleRoot: string | undefined): void {
  if (bundleRoot !== undefined && span.error?.stack) span.error.stack = relativeStack(span.error.stack, bundleRoot);
}
