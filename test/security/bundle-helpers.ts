// Shared by the bundle attack tests: tiny deployable projects, their bundles packed by the SDK, and
// hand-made tarballs (other code under a stolen manifest, odd modes, bombs) sent with raw HTTP.
import { createGzip, gzipSync } from "node:zlib";
import { Header, Parser, type ReadEntry } from "tar";
import { packBundle, type BundleManifest } from "../../src/bundle/index.ts";
import type { TarEntry } from "../../src/bundle/tar-writer.ts";
import { importProject } from "../platform/serving/_helpers.ts";

/** A project whose job `who()` returns `value`, plus `extra` files. */
export async function whoProject(value: string, extra: Record<string, string> = {}): Promise<{ dir: string; mod: any }> {
  return importProject({
    "package.json": JSON.stringify({ name: "who", private: true, type: "module" }),
    "ops.ts": `import { operator } from "nbox";\nexport const who = operator(function who() {\n  return ${JSON.stringify(value)};\n});\n`,
    ...extra,
  });
}

/** The bundle the SDK would upload for `op` (same manifest as deploy(), same bytes). */
export async function sdkBundle(dir: string, op: any, ws: string): Promise<{ tarball: Buffer; manifest: BundleManifest; hash: string }> {
  const dry = await op.deploy(ws, { dryRun: true });
  const { formatVersion: _v, contentHash: _h, lockfileHash: _l, ...input } = dry.manifest as BundleManifest;
  const packed = await packBundle(dir, input);
  return { tarball: packed.tarball, manifest: packed.manifest, hash: packed.manifest.contentHash };
}

/** The entries of a (small) tarball, bytes included, in archive order. */
export async function tarEntries(tarball: Buffer): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  await new Promise<void>((resolve, reject) => {
    const p = new Parser({
      onReadEntry: (e: ReadEntry) => {
        const chunks: Buffer[] = [];
        e.on("data", (c: Buffer) => chunks.push(c));
        e.on("end", () => out.push({ path: e.path, type: e.type as TarEntry["type"], mode: e.mode ?? 0o644, data: Buffer.concat(chunks), linkpath: e.linkpath || undefined }));
      },
    });
    p.on("end", () => resolve());
    p.on("error", reject);
    p.end(tarball);
  });
  return out;
}

/** Raw PUT of a bundle body with a token. */
export async function putBundle(url: string, token: string, hash: string, body: Uint8Array): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}/api/v1/bundles/${hash}`, { method: "PUT", headers: { authorization: `Bearer ${token}`, "content-type": "application/gzip" }, body });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

const MiB = 1024 * 1024;
const ZERO_RUN = 16 * MiB;
let zeroMember: Buffer | undefined;

/**
 * A gzip stream of a tar archive from `parts` (headers as bytes, bodies as a count of zero bytes),
 * built cheaply: gzip members concatenate, so a run of zeros is one 16 MiB member (~16 KB) repeated.
 */
export function gzipParts(parts: (Buffer | number)[]): Buffer {
  zeroMember ??= gzipSync(Buffer.alloc(ZERO_RUN), { level: 9 });
  const out: Buffer[] = [];
  for (const p of parts) {
    if (typeof p !== "number") {
      out.push(gzipSync(p));
      continue;
    }
    for (let n = p; n > 0; n -= ZERO_RUN) out.push(n >= ZERO_RUN ? zeroMember : gzipSync(Buffer.alloc(n)));
  }
  return Buffer.concat(out);
}

/** One tar header block for a regular file of `size` bytes. */
export function fileHeader(path: string, size: number, mode = 0o644): Buffer {
  const h = new Header({ path, mode, size, type: "File", mtime: new Date(0), uid: 0, gid: 0, uname: "", gname: "" });
  h.encode();
  return h.block!;
}

/** Zero bytes that pad a body of `size` to whole 512-byte blocks. */
export const padding = (size: number) => (512 - (size % 512)) % 512;

/** A gzip tarball of `count` empty files, streamed through zlib in batches (raw: 512 bytes per file). */
export async function manyEmptyFiles(count: number, first: Buffer[] = []): Promise<Buffer> {
  const gz = createGzip({ level: 6 });
  const out: Buffer[] = [];
  gz.on("data", (c: Buffer) => out.push(c));
  const done = new Promise<void>((resolve, reject) => (gz.on("end", resolve), gz.on("error", reject)));
  for (const b of first) gz.write(b);
  for (let i = 0; i < count; ) {
    const batch: Buffer[] = [];
    for (const end = Math.min(count, i + 2000); i < end; i++) batch.push(fileHeader(`f/${i}.txt`, 0));
    if (!gz.write(Buffer.concat(batch))) await new Promise((r) => gz.once("drain", r));
  }
  gz.end(Buffer.alloc(1024));
  await done;
  return Buffer.concat(out);
}
