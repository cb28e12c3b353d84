// A tiny in-memory tar writer on top of node-tar's Header/Pax encoders.
// Why not tar.c(): it reads from disk (we must add nbox.json without writing into the user's folder) and
// embeds stat details; here every header field is fixed, so the same entries always give the same bytes.
import { gzipSync } from "node:zlib";
import { Header, Pax, type HeaderData } from "tar";

export type TarEntry = {
  path: string;
  type: NonNullable<HeaderData["type"]>;
  mode: number;
  /** File contents (File entries only). */
  data?: Buffer;
  /** Target for SymbolicLink / Link entries. */
  linkpath?: string;
};

const BLOCK = 512;
const EPOCH = new Date(0);

/** Encodes entries, in the given order, as an uncompressed ustar/pax archive. */
export function writeTar(entries: TarEntry[]): Buffer {
  const chunks: Buffer[] = [];
  for (const e of entries) {
    const data = e.type === "File" ? (e.data ?? Buffer.alloc(0)) : Buffer.alloc(0);
    const fields: HeaderData = {
      path: e.path,
      mode: e.mode,
      uid: 0,
      gid: 0,
      size: data.length,
      mtime: EPOCH,
      type: e.type,
      linkpath: e.linkpath ?? "",
      uname: "",
      gname: "",
    };
    const header = new Header(fields);
    // Long paths/targets don't fit ustar fields: precede the entry with a pax extended header.
    if (header.encode()) chunks.push(new Pax({ path: e.path, linkpath: e.linkpath }).encode());
    chunks.push(header.block!);
    if (data.length > 0) {
      chunks.push(data);
      const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
      if (pad) chunks.push(Buffer.alloc(pad));
    }
  }
  chunks.push(Buffer.alloc(BLOCK * 2)); // end-of-archive marker
  return Buffer.concat(chunks);
}

/** writeTar + gzip. zlib's gzip header carries no timestamp/name, so output stays deterministic. */
export function writeTarGz(entries: TarEntry[]): Buffer {
  return gzipSync(writeTar(entries));
}
