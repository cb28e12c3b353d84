// The bundle content hash, computed the same way by the SDK (while packing) and by the platform (while
// reading an uploaded tarball): a bundle's hash names exactly one set of files and one manifest.
// Input: "nbox-bundle-v<N>\0", then per entry "kind\0path\0mode\0len\0" + bytes + "\0" in bundle order,
// then "manifest\0" + canonical JSON of every manifest field except contentHash. Every part is either
// from a fixed set or length-prefixed, so two different bundles never feed the hash the same bytes.
import { createHash, type Hash } from "node:crypto";
import { canonicalJson } from "./hash.ts";
import { MANIFEST_FORMAT_VERSION, type BundleManifest } from "./manifest.ts";

export type HashedKind = "file" | "symlink";
export type ManifestFields = Omit<BundleManifest, "contentHash">;

export class ContentHasher {
  readonly #h: Hash = createHash("sha256").update(`nbox-bundle-v${MANIFEST_FORMAT_VERSION}\0`);
  /** Bytes still owed by the entry being hashed (0 when none is open). */
  #owed = 0;

  /** Starts an entry of `size` bytes; feed them with `update`. Symlinks hash their target as the bytes. */
  begin(kind: HashedKind, path: string, mode: number, size: number): this {
    if (this.#owed !== 0) throw new Error("content hash: previous entry is incomplete");
    this.#h.update(`${kind}\0${path}\0${mode.toString(8)}\0${size}\0`);
    this.#owed = size;
    if (size === 0) this.#h.update("\0");
    return this;
  }

  update(chunk: Uint8Array): this {
    if (chunk.length > this.#owed) throw new Error("content hash: entry is longer than declared");
    this.#h.update(chunk);
    this.#owed -= chunk.length;
    if (this.#owed === 0 && chunk.length > 0) this.#h.update("\0");
    return this;
  }

  /** One whole entry at once (the SDK side, which has every file in memory). */
  add(kind: HashedKind, path: string, mode: number, body: Uint8Array): this {
    return this.begin(kind, path, mode, body.length).update(body);
  }

  /** Ends the hash with the manifest fields; returns the hex digest. */
  finish(fields: ManifestFields): string {
    if (this.#owed !== 0) throw new Error("content hash: last entry is incomplete");
    return this.#h.update("manifest\0").update(canonicalJson(fields)).digest("hex");
  }
}

/** The hashed manifest fields: everything except the hash itself. */
export function manifestFields(m: BundleManifest): ManifestFields {
  const { contentHash: _, ...fields } = m;
  return fields;
}
