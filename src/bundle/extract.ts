// Safe extraction of an untrusted bundle. The archive is read once, as a stream, under the reading limits;
// entries are written into a temp sibling of `dest` as they arrive (every folder is created by us, so
// nothing is ever written through a link), the content must hash to the manifest's contentHash (and to
// `expectedHash` when given), links are checked once more on disk, and only then is the folder renamed
// into place. Files get 0644 or 0755, folders 0755: no setuid/setgid/sticky bit survives. A rejected
// bundle leaves nothing at `dest`.
import { chmod, lstat, mkdir, mkdtemp, open, readdir, realpath, rename, rm, rmdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import type { BundleSource } from "./chunk-reader.ts";
import { UnsafeBundleError } from "./errors.ts";
import type { BundleLimits } from "./limits.ts";
import { MANIFEST_FILE, type BundleManifest } from "./manifest.ts";
import { readBundle, type BundleSink } from "./read-bundle.ts";
import { checkHash } from "./verify.ts";

export type ExtractOptions = {
  /** Reading limits (defaults: DEFAULT_BUNDLE_LIMITS). */
  limits?: Partial<BundleLimits>;
  /** The hash the bundle is known by (its file name on the platform); the content must hash to it. */
  expectedHash?: string;
};

/** Extracts `source` (a .tgz/.tar path or its bytes) to `dest` (absent or an empty folder); returns the manifest. */
export async function extractBundle(source: BundleSource, dest: string, opts: ExtractOptions = {}): Promise<BundleManifest> {
  const absDest = path.resolve(dest);
  // Temp dir next to dest: same filesystem, so the final rename is atomic.
  await mkdir(path.dirname(absDest), { recursive: true });
  const tmp = await mkdtemp(path.join(path.dirname(absDest), `.${path.basename(absDest)}.extract-`));
  try {
    await chmod(tmp, 0o755);
    const read = await readBundle(source, { limits: opts.limits, sink: diskSink(tmp) });
    checkHash(read.contentHash, read.manifest.contentHash, opts.expectedHash);
    // The manifest as validated (and hashed), not the raw bytes: unknown fields never reach the runtime.
    await writeFile(path.join(tmp, MANIFEST_FILE), JSON.stringify(read.manifest, null, 2) + "\n", { mode: 0o644, flag: "wx" });
    await checkLinksOnDisk(tmp, read.links);
    await moveIntoPlace(tmp, absDest);
    return read.manifest;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Writes entries below `root`; `wx` / plain mkdir fail on anything that already exists. */
function diskSink(root: string): BundleSink {
  const abs = (p: string) => path.join(root, ...p.split("/"));
  return {
    async dir(p) {
      await mkdir(abs(p), { mode: 0o755 });
      await chmod(abs(p), 0o755); // umask may have taken bits away
    },
    async file(p, mode) {
      const fh = await open(abs(p), "wx", mode);
      return {
        write: async (chunk) => void (await fh.write(chunk)),
        close: async () => {
          try {
            await fh.chmod(mode);
          } finally {
            await fh.close();
          }
        },
      };
    },
    async symlink(p, target) {
      await symlink(target, abs(p));
    },
  };
}

/** Second line of defence: every extracted link must resolve inside the tree (or point at nothing). */
async function checkLinksOnDisk(root: string, links: readonly { path: string }[]): Promise<void> {
  const realRoot = await realpath(root);
  for (const { path: p } of links) {
    let real: string;
    try {
      real = await realpath(path.join(root, ...p.split("/")));
    } catch {
      continue; // dangling: points at nothing, harmless
    }
    const rel = path.relative(realRoot, real);
    if (rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
      throw new UnsafeBundleError(`unsafe bundle entry ${JSON.stringify(p)}: symlink escapes the bundle`, p);
    }
  }
}

async function moveIntoPlace(tmp: string, dest: string): Promise<void> {
  const st = await lstat(dest).catch(() => null);
  if (st) {
    if (!st.isDirectory() || (await readdir(dest)).length > 0) {
      throw new Error(`cannot extract bundle: ${dest} already exists and is not an empty folder`);
    }
    await rmdir(dest);
  }
  await rename(tmp, dest);
}
