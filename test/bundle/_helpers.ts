// Shared test helpers: temp project folders built from a { path: content } map.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ContentHasher, type ManifestFields } from "../../src/bundle/content-hash.ts";
import type { TarEntry } from "../../src/bundle/tar-writer.ts";

export async function tempDir(prefix = "nbox-bundle-"): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function writeTree(root: string, tree: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, content] of Object.entries(tree)) {
    const abs = path.join(root, ...rel.split("/"));
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, content);
  }
}

export const baseManifest = {
  entry: "ops.ts",
  export: "foo",
  kind: "fn" as const,
  init: [] as unknown[],
  type: "job" as const,
  name: "foo",
  resource: {} as Record<string, unknown>,
  schedule: null,
};

/**
 * Tar entries of a valid bundle holding `files`: nbox.json first, with the contentHash the shared hasher
 * gives (the one the SDK computes), so extraction and upload verification accept it.
 */
export function sealedBundle(files: TarEntry[], fields: Partial<ManifestFields> = {}): TarEntry[] {
  const manifest = { ...baseManifest, formatVersion: 1 as const, lockfileHash: null, ...fields };
  const h = new ContentHasher();
  for (const f of files) {
    if (f.type === "SymbolicLink") h.add("symlink", f.path, 0o777, Buffer.from(f.linkpath ?? ""));
    else if (f.type === "File") h.add("file", f.path, f.mode & 0o111 ? 0o755 : 0o644, f.data ?? Buffer.alloc(0));
  }
  const contentHash = h.finish(manifest);
  return [{ path: "nbox.json", type: "File", mode: 0o644, data: Buffer.from(JSON.stringify({ ...manifest, contentHash })) }, ...files];
}
