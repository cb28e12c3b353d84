import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { extractBundle, installDependencies, validateManifest, type BundleManifest } from "../bundle/index.ts";
import { NboxError } from "../errors.ts";
import { bundleFile, versionDir, type PlatformContext } from "./context.ts";

// One extraction+install per content hash at a time, even with concurrent deploys.
const preparing = new Map<string, Promise<string>>();

/** Extract a bundle and install its dependencies once; returns the ready directory. */
export function prepareVersion(ctx: PlatformContext, manifest: BundleManifest, log: (line: string) => void = () => {}): Promise<string> {
  const hash = manifest.contentHash;
  const dir = versionDir(ctx.paths, hash);
  if (existsSync(`${dir}/.ready`)) return Promise.resolve(dir);
  let p = preparing.get(hash);
  if (!p) {
    p = (async () => {
      const file = bundleFile(ctx.paths, hash);
      if (!existsSync(file)) throw new NboxError("NOT_FOUND", `bundle ${hash} has not been uploaded`, "Upload it with PUT /api/v1/bundles/<hash> first");
      if (!existsSync(dir)) {
        const extracted = await extractBundle(await readFile(file), dir);
        if (extracted.contentHash !== hash) throw new NboxError("BAD_REQUEST", `bundle ${hash} contains a manifest for ${extracted.contentHash}`);
      }
      await installDependencies(dir, { cacheDir: ctx.paths.deps, nboxPackageDir: ctx.paths.nboxPackage, npmCacheDir: ctx.paths.npmCache, log });
      const { writeFile } = await import("node:fs/promises");
      await writeFile(`${dir}/.ready`, new Date().toISOString());
      return dir;
    })().finally(() => preparing.delete(hash));
    preparing.set(hash, p);
  }
  return p;
}

export function parseManifest(x: unknown): BundleManifest {
  try {
    return validateManifest(x);
  } catch (err) {
    throw new NboxError("BAD_REQUEST", (err as Error).message);
  }
}
