import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { extractBundle, installDependencies, validateManifest, type BundleManifest } from "../bundle/index.ts";
import { NboxError } from "../errors.ts";
import { bundleLimits } from "./bundle-store.ts";
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
      // Prepared aside and renamed into place when complete: another platform sharing the worker
      // cache may prepare the same hash at the same time, and must never see half a version.
      const staging = `${dirname(dir)}/.${hash}.prepare-${randomBytes(6).toString("hex")}`;
      try {
        const extracted = await extractBundle(file, staging, { limits: bundleLimits(ctx.config), expectedHash: hash });
        if (extracted.contentHash !== hash) throw new NboxError("BAD_REQUEST", `bundle ${hash} contains a manifest for ${extracted.contentHash}`);
        await installDependencies(staging, { cacheDir: ctx.paths.deps, nboxPackageDir: ctx.paths.nboxPackage, npmCacheDir: ctx.paths.npmCache, log });
        await writeFile(`${staging}/.ready`, new Date().toISOString());
        await rename(staging, dir).catch((err) => {
          if (!existsSync(`${dir}/.ready`)) throw new NboxError("INTERNAL", `cannot move the prepared version into ${dir}: ${(err as Error).message}`, `Delete ${dir} and deploy again`);
          // Someone else finished the same hash first; theirs is identical.
        });
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
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
