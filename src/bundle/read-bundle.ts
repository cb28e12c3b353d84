// One streaming pass over an untrusted bundle archive: every header is checked against the limits before
// its bytes are read, every entry path against the layout rules, the content hash is computed from the
// entries as they stream by, and a sink (the extractor) may write them. Nothing is buffered but nbox.json.
import { Header, Pax, type HeaderData } from "tar";
import { ChunkReader, type BundleSource } from "./chunk-reader.ts";
import { ContentHasher, manifestFields } from "./content-hash.ts";
import { entryPath, EntryTree, unsafeEntry } from "./entry-paths.ts";
import { BundleLimitError, ManifestError, UnsafeBundleError } from "./errors.ts";
import { formatBytes } from "./format.ts";
import { MAX_MANIFEST_BYTES, resolveLimits, type BundleLimits } from "./limits.ts";
import { MANIFEST_FILE, validateManifest, type BundleManifest } from "./manifest.ts";

/** Where the entries go (the extractor); folders come before what is inside them. */
export interface BundleSink {
  dir(path: string): Promise<void>;
  file(path: string, mode: number): Promise<{ write(chunk: Buffer): Promise<void>; close(): Promise<void> }>;
  symlink(path: string, target: string): Promise<void>;
}

export type ReadOptions = {
  limits?: Partial<BundleLimits>;
  sink?: BundleSink;
  /** Stop as soon as nbox.json (the first entry) has been read (no content hash then). */
  manifestOnly?: boolean;
};

export type ReadResult = {
  manifest: BundleManifest;
  /** Hash of what was read, by the SDK's algorithm ("" with manifestOnly). */
  contentHash: string;
  entries: number;
  unpackedBytes: number;
  links: readonly { path: string; target: string }[];
};

const META_TYPES = new Set(["ExtendedHeader", "OldExtendedHeader", "GlobalExtendedHeader", "NextFileHasLongPath", "OldGnuLongPath", "NextFileHasLongLinkpath"]);
const FILE_TYPES = new Set(["File", "OldFile", "ContiguousFile"]);
/** Pax / GNU long-name records only carry a path or two. */
const MAX_META_BYTES = 64 * 1024;
const BLOCK = 512;

export async function readBundle(source: BundleSource, opts: ReadOptions = {}): Promise<ReadResult> {
  const limits = resolveLimits(opts.limits);
  const tree = new EntryTree(limits);
  const hasher = new ContentHasher();
  const sink = opts.sink;
  let manifest: BundleManifest | undefined;
  const reader = await ChunkReader.open(source);

  /** Claims the next `n` inflated bytes against the total limit before any of them is read. */
  const claim = (n: number) => {
    if (reader.consumed + n > limits.maxUnpackedBytes) {
      throw new BundleLimitError(`bundle expands to more than ${formatBytes(limits.maxUnpackedBytes)}`, "maxUnpackedBytes", limits.maxUnpackedBytes);
    }
  };
  const skip = (n: number) => reader.pieces(n, () => {});

  try {
    let ex: HeaderData | undefined;
    let gex: HeaderData | undefined;
    for (;;) {
      claim(BLOCK);
      const block = await reader.exactly(BLOCK);
      if (block === null) break;
      const h = new Header(block, 0, ex, gex);
      if (h.nullBlock) break; // end-of-archive marker: anything after it is never read
      if (!h.cksumValid) throw new UnsafeBundleError("bundle is not a valid tar archive (header checksum mismatch)");
      const size = h.size ?? 0;
      const padding = (BLOCK - (size % BLOCK)) % BLOCK;

      if (META_TYPES.has(h.type)) {
        if (size > MAX_META_BYTES) throw new UnsafeBundleError(`bundle has an extended tar header of ${size} bytes (at most ${MAX_META_BYTES})`);
        claim(size + padding);
        const text = (await reader.required(size)).toString("utf8");
        await skip(padding);
        if (h.type === "GlobalExtendedHeader") gex = Pax.parse(text, gex, true);
        else if (h.type === "ExtendedHeader" || h.type === "OldExtendedHeader") ex = Pax.parse(text, ex, false);
        else ex = { ...ex, [h.type === "NextFileHasLongLinkpath" ? "linkpath" : "path"]: text.replace(/\0[^]*$/, "") };
        continue;
      }

      const rawPath = ex?.path ?? h.path ?? "";
      const linkpath = ex?.linkpath ?? h.linkpath ?? "";
      ex = undefined;
      tree.count();
      if (size > limits.maxFileBytes) {
        throw new BundleLimitError(`bundle file ${JSON.stringify(rawPath.slice(0, 200))} is ${formatBytes(size)}, over the ${formatBytes(limits.maxFileBytes)} limit per file`, "maxFileBytes", limits.maxFileBytes);
      }
      claim(size + padding);

      if (h.type === "Directory") {
        // Folders exist because paths imply them; an explicit folder entry (and its mode) adds nothing.
        const p = entryPath(rawPath, true, limits);
        if (!manifest && p !== null) throw notFirst(p);
        await skip(size + padding);
      } else if (FILE_TYPES.has(h.type)) {
        const p = entryPath(rawPath, false, limits)!;
        if (!manifest && p !== MANIFEST_FILE) throw notFirst(p);
        if (p === MANIFEST_FILE) {
          if (manifest) throw unsafeEntry(p, `a second ${MANIFEST_FILE}`);
          tree.add(p, "file");
          manifest = await readManifest(reader, size);
          await skip(padding);
          if (opts.manifestOnly) break;
          continue;
        }
        const mode = (h.mode ?? 0) & 0o111 ? 0o755 : 0o644; // no setuid/setgid/sticky, no odd permissions
        for (const d of tree.add(p, "file")) await sink?.dir(d);
        hasher.begin("file", p, mode, size);
        const out = await sink?.file(p, mode);
        try {
          await reader.pieces(size, async (piece) => {
            hasher.update(piece);
            await out?.write(piece);
          });
        } finally {
          await out?.close();
        }
        await skip(padding);
      } else if (h.type === "SymbolicLink") {
        const p = entryPath(rawPath, false, limits)!;
        if (p === MANIFEST_FILE) throw unsafeEntry(p, `${MANIFEST_FILE} must be a regular file`);
        if (!manifest) throw notFirst(p);
        if (linkpath.includes("\0")) throw unsafeEntry(p, "NUL in link target");
        if (linkpath.length > limits.maxPathLength) {
          throw new BundleLimitError(`bundle link ${JSON.stringify(p.slice(0, 200))} has a target longer than ${limits.maxPathLength} characters`, "maxPathLength", limits.maxPathLength);
        }
        for (const d of tree.add(p, "symlink", linkpath)) await sink?.dir(d);
        hasher.add("symlink", p, 0o777, Buffer.from(linkpath));
        await skip(size + padding);
        await sink?.symlink(p, linkpath);
      } else {
        const why = h.type === "Link" ? " (bundles never contain hard links)" : "";
        throw unsafeEntry(rawPath, `entry type ${h.type} is not allowed${why}`);
      }
    }
  } finally {
    reader.close();
  }

  if (!manifest) throw new ManifestError(`bundle has no ${MANIFEST_FILE} at its root`);
  const base = { manifest, entries: tree.entries, unpackedBytes: reader.consumed, links: tree.links };
  if (opts.manifestOnly) return { ...base, contentHash: "" };
  tree.checkLinks();
  return { ...base, contentHash: hasher.finish(manifestFields(manifest)) };
}

/** The SDK writes nbox.json first, so the manifest of a stored bundle costs one entry to read. */
const notFirst = (p: string) => new ManifestError(`bundle has ${JSON.stringify(p)} before ${MANIFEST_FILE}; ${MANIFEST_FILE} must be its first entry`);

async function readManifest(reader: ChunkReader, size: number): Promise<BundleManifest> {
  if (size > MAX_MANIFEST_BYTES) throw new ManifestError(`${MANIFEST_FILE} is ${formatBytes(size)}, over the ${formatBytes(MAX_MANIFEST_BYTES)} limit`);
  const raw = (await reader.required(size)).toString("utf8");
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new ManifestError(`${MANIFEST_FILE} is not valid JSON: ${(e as Error).message}`);
  }
  return validateManifest(parsed);
}
