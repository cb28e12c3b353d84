// A deployment version made ready on this worker: its bundle downloaded from the control plane,
// extracted (checked against its hash on the way) and its dependencies installed, once per hash.
import { writerTag } from "../lib/writer-tag.ts";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { extractBundle, installDependencies, validateManifest, type BundleManifest } from "../bundle/index.ts";
import type { BundleLimits } from "../bundle/limits.ts";
import { NboxError } from "../errors.ts";
import { touch } from "../lib/touch.ts";
import { syncTree } from "../lib/sync-tree.ts";
import { syncFolder, writeFileAtomic } from "../lib/write-file-atomic.ts";
import { READY_FILE } from "./cache-evict.ts";
import { compileVersion, type CompileSandbox } from "./compile/compile-version.ts";
import { versionDir, type WorkerPaths } from "./paths.ts";

export interface VersionSource {
  /** The version's manifest (immutable: cached for good). */
  manifest(versionId: string): Promise<BundleManifest>;
  /** Write bundle `hash` to `file`. */
  download(hash: string, file: string): Promise<void>;
}

// A stamp touched this recently by this worker is not touched again on every call.
const RESTAMP_MS = 60_000;

export class Versions {
  private readonly manifests = new Map<string, Promise<BundleManifest>>();
  private readonly preparing = new Map<string, Promise<string>>();
  /** When this worker last stamped each version folder. */
  private readonly stamped = new Map<string, number>();

  constructor(
    private readonly paths: WorkerPaths,
    private readonly source: VersionSource,
    private readonly limits: Partial<BundleLimits> = {},
    /** The sandbox a version's compile runs in (user processes' own); none: unsandboxed. */
    private readonly compileSandbox?: CompileSandbox,
  ) {}

  manifest(versionId: string): Promise<BundleManifest> {
    let p = this.manifests.get(versionId);
    if (!p) {
      p = this.source.manifest(versionId).then((m) => {
        try {
          return validateManifest(m);
        } catch (err) {
          throw new NboxError("BAD_REQUEST", `deployment version ${versionId} has an invalid manifest: ${(err as Error).message}`);
        }
      });
      p.catch(() => this.manifests.delete(versionId));
      this.manifests.set(versionId, p);
    }
    return p;
  }

  /**
   * The ready folder of `manifest`'s bundle (extracted, dependencies installed), stamped as used
   * (cache-evict.ts); made again if it was evicted.
   */
  prepare(manifest: BundleManifest, log: (line: string) => void = () => {}): Promise<string> {
    const hash = manifest.contentHash;
    const dir = versionDir(this.paths, hash);
    const now = Date.now();
    if (now - (this.stamped.get(dir) ?? -Infinity) < RESTAMP_MS && existsSync(join(dir, READY_FILE))) return Promise.resolve(dir);
    let p = this.preparing.get(hash);
    if (!p) {
      p = (async () => ((await this.stamp(dir, now)) ? dir : this.build(manifest, dir, log)))().finally(() => this.preparing.delete(hash));
      this.preparing.set(hash, p);
    }
    return p;
  }

  /** Refresh the stamps of version folders this worker's processes hold, so no eviction takes them. */
  async keepAlive(dirs: Iterable<string>): Promise<void> {
    const now = Date.now();
    for (const dir of new Set(dirs)) await this.stamp(dir, now);
  }

  private async stamp(dir: string, now: number): Promise<boolean> {
    const there = await touch(join(dir, READY_FILE), now);
    if (there) this.stamped.set(dir, now);
    else this.stamped.delete(dir);
    return there;
  }

  private async build(manifest: BundleManifest, dir: string, log: (line: string) => void): Promise<string> {
    const hash = manifest.contentHash;
    // The writer in the names lets a later start tell a dead worker's leftovers from live work (cache-sweep.ts).
    const tag = `${writerTag()}-${randomBytes(6).toString("hex")}`;
    await mkdir(this.paths.bundles, { recursive: true, mode: 0o700 });
    const file = join(this.paths.bundles, `${hash}.${tag}.tgz`);
    // Prepared aside and renamed into place when complete: another worker sharing this cache may
    // prepare the same hash at the same time, and must never see half a version.
    const staging = `${dirname(dir)}/.${hash}.prepare-${tag}`;
    try {
      await this.source.download(hash, file);
      const extracted = await extractBundle(file, staging, { limits: this.limits, expectedHash: hash });
      if (extracted.contentHash !== hash) throw new NboxError("BAD_REQUEST", `bundle ${hash} contains a manifest for ${extracted.contentHash}`);
      await installDependencies(staging, { cacheDir: this.paths.deps, nboxPackageDir: this.paths.nboxPackage, npmCacheDir: this.paths.npmCache, log });
      await compileVersion(staging, manifest.entry, { sandbox: this.compileSandbox });
      // On the disk before it is marked ready: after a power cut a ready version is whole (a torn
      // one would be trusted, and fail every run of it, until evicted).
      await syncTree(staging);
      writeFileAtomic(join(staging, READY_FILE), new Date().toISOString());
      await rename(staging, dir).catch((err) => {
        if (!existsSync(join(dir, READY_FILE))) throw new NboxError("INTERNAL", `cannot move the prepared version into ${dir}: ${(err as Error).message}`, `Delete ${dir} and try again`);
        // Someone else finished the same hash first; theirs is identical.
      });
      syncFolder(dirname(dir));
    } finally {
      await rm(staging, { recursive: true, force: true });
      await rm(file, { force: true });
    }
    this.stamped.set(dir, Date.now());
    return dir;
  }
}
