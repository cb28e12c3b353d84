// Checks on the paths inside an untrusted bundle, and the layout they build up while it is read.
// A hard failure, never a silent fix: absolute paths, "..", and anything that would write through or
// outside a link are refused, so what is extracted is exactly what was hashed.
import path from "node:path";
import { BundleLimitError, UnsafeBundleError } from "./errors.ts";
import type { BundleLimits } from "./limits.ts";

/** Longest name of one path segment on common filesystems (bytes). */
const MAX_SEGMENT_BYTES = 255;

export const unsafeEntry = (p: string, why: string) =>
  new UnsafeBundleError(`unsafe bundle entry ${JSON.stringify(p)}: ${why}`, p);

/** Normalises an entry path (null for the archive's root folder) or throws if it is unsafe or too long/deep. */
export function entryPath(raw: string, isDir: boolean, limits: BundleLimits): string | null {
  if (raw.includes("\0")) throw unsafeEntry(raw, "NUL in path");
  if (isAbsoluteAnywhere(raw)) throw unsafeEntry(raw, "absolute path");
  if (raw.split(/[\\/]/).includes("..")) throw unsafeEntry(raw, '".." path segment');
  const p = path.posix.normalize(raw).replace(/\/+$/, "");
  if (p === "." || p === "") {
    if (isDir) return null;
    throw unsafeEntry(raw, "empty path");
  }
  if (p.length > limits.maxPathLength) {
    throw new BundleLimitError(`bundle entry path is longer than ${limits.maxPathLength} characters: ${JSON.stringify(p.slice(0, 80))}…`, "maxPathLength", limits.maxPathLength);
  }
  const parts = p.split("/");
  if (parts.length > limits.maxDepth) {
    throw new BundleLimitError(`bundle entry ${JSON.stringify(p.slice(0, 80))} is nested more than ${limits.maxDepth} folders deep`, "maxDepth", limits.maxDepth);
  }
  if (parts.some((s) => Buffer.byteLength(s) > MAX_SEGMENT_BYTES)) throw unsafeEntry(p, `a path segment is longer than ${MAX_SEGMENT_BYTES} bytes`);
  return p;
}

export function isAbsoluteAnywhere(p: string): boolean {
  return p.startsWith("/") || p.startsWith("\\") || /^[a-zA-Z]:/.test(p);
}

type Node = { kind: "dir"; children: Map<string, Node> } | { kind: "file" } | { kind: "symlink" };

/**
 * The tree the bundle's entries form, as they arrive. Every entry lands in a real folder created for it
 * (never below a file or a link), each path is used once, and every implied folder counts as an entry.
 */
export class EntryTree {
  readonly #root: Node & { kind: "dir" } = { kind: "dir", children: new Map() };
  readonly #links: { path: string; target: string }[] = [];
  #entries = 0;

  constructor(private readonly limits: BundleLimits) {}

  /** Counts one archive entry (every header of a file, link or folder). */
  count(): void {
    if (++this.#entries > this.limits.maxEntries) {
      throw new BundleLimitError(`bundle has more than ${this.limits.maxEntries} entries (files, links and folders)`, "maxEntries", this.limits.maxEntries);
    }
  }

  get entries(): number {
    return this.#entries;
  }

  get links(): readonly { path: string; target: string }[] {
    return this.#links;
  }

  /** Places a file or link at `p`; returns the folders it implies that did not exist yet, parents first. */
  add(p: string, kind: "file" | "symlink", target?: string): string[] {
    const parts = p.split("/");
    const created: string[] = [];
    let dir = this.#root;
    for (let i = 0; i < parts.length - 1; i++) {
      const next = dir.children.get(parts[i]!);
      if (next === undefined) {
        this.count();
        const made: Node & { kind: "dir" } = { kind: "dir", children: new Map() };
        dir.children.set(parts[i]!, made);
        created.push(parts.slice(0, i + 1).join("/"));
        dir = made;
      } else if (next.kind === "dir") {
        dir = next;
      } else {
        throw unsafeEntry(p, next.kind === "symlink" ? "path goes through a symlink in the bundle" : "path goes through a file in the bundle");
      }
    }
    const name = parts[parts.length - 1]!;
    const existing = dir.children.get(name);
    if (existing) throw unsafeEntry(p, existing.kind === "dir" ? "a folder in the bundle has the same path" : "duplicate entry");
    dir.children.set(name, { kind });
    if (kind === "symlink") this.#links.push({ path: p, target: target ?? "" });
    return created;
  }

  /**
   * Once every entry is known: link targets must stay inside the bundle without passing through another
   * link (a chain like q -> ".", p -> "q/.." looks inside but is not), whatever order the entries came in.
   */
  checkLinks(): void {
    for (const { path: p, target } of this.#links) {
      if (target === "") throw unsafeEntry(p, "empty link target");
      if (isAbsoluteAnywhere(target)) throw unsafeEntry(p, `link target ${JSON.stringify(target)} is absolute`);
      const stack = p.split("/").slice(0, -1);
      for (const seg of target.split(/[\\/]/)) {
        if (seg === "" || seg === ".") continue;
        // Stepping into or out of a folder that is itself a link from the archive: refuse.
        if (stack.length > 0 && this.#isLink(stack)) throw unsafeEntry(p, `link target ${JSON.stringify(target)} goes through a symlink in the bundle`);
        if (seg === "..") {
          if (stack.length === 0) throw unsafeEntry(p, `link target ${JSON.stringify(target)} escapes the bundle`);
          stack.pop();
        } else {
          stack.push(seg);
        }
      }
    }
  }

  #isLink(parts: string[]): boolean {
    let node: Node | undefined = this.#root;
    for (const part of parts) {
      if (node?.kind !== "dir") return false;
      node = node.children.get(part);
    }
    return node?.kind === "symlink";
  }
}
