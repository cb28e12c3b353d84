// Shared test helpers: temp project folders built from a { path: content } map.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

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
